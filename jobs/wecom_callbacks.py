"""WeCom callbacks in (SPEC §9): verify, decrypt, journal once, turn into events.

`verify_url` answers WeCom's URL check; `receive` takes one POSTed callback. Both
raise `Refused(reason)` having written nothing for a request that is not
WeCom's: missing parameters, a timestamp more than `MAX_SKEW` from `now` (a
replay), a bad signature, a body that does not decrypt or parse, a
(msg_signature, nonce) already seen.

A change is journaled once under its `event_key`; a WeCom retry (the same change,
re-signed) only counts a repeat. What each change becomes:
  add_external_contact   customer_added (owner = UserID when a known employee), the
                         welcome message sent inline, details fetched by a job
  edit_external_contact  details fetched by a job, tags diffed into tag events
  del_external_contact / del_follow_user   customer_lost (when UserID is the owner)
  transfer_fail          journaled and listed; the owner stays
  change_external_tag    the tag catalogue re-read by a job
The events go through `jobs.events.apply_events` with the event key as their id.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException

from jobs.core import wecom_events as W
from jobs.events import EventsInvalid, apply_events
from models import Customer, Employee, Settings, WeComCallback

log = logging.getLogger("sop.wecom")
MAX_SKEW = 300  # seconds between WeCom's timestamp and our clock


class Refused(Exception):
    """Not a callback from WeCom (or not one we can read): answered 4xx, nothing written."""


@dataclass(frozen=True)
class Received:
    callback_id: int | None
    duplicate: bool
    needs_sync: bool = False  # fetch the contact's details (a job)
    needs_tag_sync: bool = False  # re-read the corp tag catalogue (a job)
    welcome: tuple[str, str] | None = None  # (welcome code, text) to send now


def _crypto(session) -> WeChatCrypto:
    settings = session.get(Settings, 1)
    if settings is None or not (settings.wecom_callback_token and settings.wecom_aes_key
                                and settings.wecom_corp_id):
        raise Refused("WeCom callback token, EncodingAESKey or corp id is not configured")
    try:
        return WeChatCrypto(settings.wecom_callback_token, settings.wecom_aes_key,
                            settings.wecom_corp_id)
    except Exception:  # a key that is not 43 characters of base64
        raise Refused("the configured EncodingAESKey is not valid") from None


def _signed(params, now: datetime) -> tuple[str, str, str]:
    signature, timestamp, nonce = (params.get(n) for n in ("msg_signature", "timestamp", "nonce"))
    if not (signature and timestamp and nonce):
        raise Refused("msg_signature, timestamp and nonce are required")
    try:
        skew = abs(now.timestamp() - int(timestamp))
    except ValueError:
        raise Refused("timestamp is not a number") from None
    if skew > MAX_SKEW:
        raise Refused(f"timestamp {timestamp} is {int(skew)} s away from now (a replay?)")
    return signature, timestamp, nonce


def verify_url(session, params, now: datetime) -> str:
    """The decrypted `echostr`, which WeCom expects back as plain text."""
    crypto = _crypto(session)
    signature, timestamp, nonce = _signed(params, now)
    echostr = params.get("echostr") or ""
    try:
        return crypto.check_signature(signature, timestamp, nonce, echostr)
    except InvalidSignatureException:
        raise Refused("bad signature") from None
    except Exception:
        raise Refused("echostr does not decrypt") from None


def decrypt(session, params, body: bytes, now: datetime) -> tuple[W.Callback, str, tuple]:
    crypto = _crypto(session)
    signature, timestamp, nonce = _signed(params, now)
    try:
        xml = crypto.decrypt_message(body, signature, timestamp, nonce)
    except InvalidSignatureException:
        raise Refused("bad signature") from None
    except Exception as exc:  # not XML, no Encrypt element, bad base64/padding, wrong corp
        raise Refused(f"body does not decrypt ({exc.__class__.__name__})") from None
    try:
        callback = W.parse_message(xml)
    except W.MessageInvalid as exc:
        raise Refused(f"decrypted message unreadable: {exc}") from None
    seen = session.scalar(select(WeComCallback.id).where(
        WeComCallback.msg_signature == signature, WeComCallback.nonce == nonce))
    if seen is not None:
        raise Refused(f"replayed request (same signature and nonce as callback #{seen})")
    return callback, xml, (signature, int(timestamp), nonce)


def receive(session, params, body: bytes, now: datetime) -> Received:
    """Journal and apply one callback and commit; what to do next (after the answer)."""
    callback, xml, (signature, timestamp, nonce) = decrypt(session, params, body, now)
    key = W.event_key(callback)
    existing = session.scalar(select(WeComCallback).where(WeComCallback.event_key == key))
    if existing is not None:
        return _repeat(session, existing)
    at = datetime.fromtimestamp(callback.create_time, timezone.utc)
    status, reason, events = _plan(session, callback, key, at)
    if events:
        try:
            apply_events(session, events, now)  # idempotent by id: a crash here is retried
        except EventsInvalid as exc:
            status, reason = "ignored", "; ".join(p.message for p in exc.problems)[:300]
    row = WeComCallback(
        event_key=key, msg_signature=signature[:64], nonce=nonce[:64], timestamp=timestamp,
        event=callback.event[:40], change_type=(callback.change_type or "")[:40] or None,
        external_userid=callback.external_userid, userid=callback.userid, created_at=at,
        xml=xml, status=status, reason=reason, received_at=now)
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # the same change arrived twice at once; the other one won
        session.rollback()
        return _repeat(session, session.scalar(
            select(WeComCallback).where(WeComCallback.event_key == key)))
    accepted = status == "accepted"
    welcome = _welcome(session, callback) if accepted else None
    return Received(row.id, duplicate=False,
                    needs_sync=accepted and callback.change_type in (W.ADDED, W.EDITED),
                    needs_tag_sync=accepted and callback.event == W.TAG_EVENT,
                    welcome=welcome)


def _repeat(session, row: WeComCallback) -> Received:
    row.repeats += 1
    session.commit()
    log.info("WeCom callback %s repeated (%s): not applied again", row.id, row.event_key)
    return Received(row.id, duplicate=True)


def _plan(session, cb: W.Callback, key: str, at: datetime) -> tuple[str, str | None, list]:
    """(status, reason, events) for this callback."""
    if cb.event == W.TAG_EVENT:
        return "accepted", None, []
    if cb.event != W.CONTACT_EVENT or cb.change_type not in W.HANDLED:
        return "ignored", f"not handled: {cb.event} {cb.change_type or ''}".strip(), []
    if not cb.external_userid:
        return "ignored", "no ExternalUserID", []
    customer = session.scalar(select(Customer).where(
        Customer.external_id == cb.external_userid))
    base = {"id": key, "external_id": cb.external_userid, "at": at.isoformat()}
    if cb.change_type == W.ADDED:
        event = {**base, "type": "customer_added",
                 "name": customer.name if customer else cb.external_userid}
        if cb.userid and session.scalar(select(Employee.id).where(Employee.userid == cb.userid)):
            event["owner"] = cb.userid
            return "accepted", None, [event]
        return "accepted", f"unknown employee '{cb.userid}': the customer has no owner", [event]
    if cb.change_type == W.TRANSFER_FAIL:
        return "accepted", f"transfer failed: {cb.fail_reason or 'no reason given'}", []
    if cb.change_type == W.EDITED:  # a contact the product never saw added is added then
        return "accepted", None, []
    if customer is None:
        return "ignored", f"unknown customer '{cb.external_userid}'", []
    owner = customer.owner.userid if customer.owner else None
    if owner is not None and cb.userid != owner:
        return "ignored", f"'{cb.userid}' is not the owner ('{owner}'): the customer stays", []
    return "accepted", None, [{**base, "type": "customer_lost"}]


def _welcome(session, cb: W.Callback) -> tuple[str, str] | None:
    if cb.change_type != W.ADDED or not cb.welcome_code:
        return None
    text = (session.get(Settings, 1).welcome_message or "").strip()
    return (cb.welcome_code, text) if text else None


def record_welcome(session, callback_id: int, outcome: str) -> None:
    row = session.get(WeComCallback, callback_id)
    row.welcome = outcome[:300]
    session.commit()
