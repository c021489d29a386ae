"""Auto-tags written back to WeCom with `mark_tag` (SPEC §9), through an outbox.

The tick never calls WeCom: when the channel is `wecom`, `queue_tag_writes` (called
by jobs.customer_writes.change_tags) records one pending row per (customer, tag,
action); a job (`write_tags`) sends them, one mark_tag per customer, as the owner.
A failure is retried with backoff (`next_try_at`) and given up after
`MAX_ATTEMPTS`, with the reason. mark_tag is idempotent in WeCom, so a call whose
answer was lost is simply made again.

A product tag with no WeCom id (an auto-tag like "SOP完成") is created first as a
corp tag with `add_corp_tag` (in its group, else "SOP自动标签"); removing such a tag
needs no call.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, tuple_

from models import Customer, Settings, Tag, WeComTagWrite

MAX_ATTEMPTS = 5
BACKOFF = (60, 300, 1800, 7200)  # seconds before the 2nd, 3rd, ... attempt
CLAIM = 500  # rows per run


def queue_tag_writes(session, added: Sequence[tuple[int, int]],
                     removed: Sequence[tuple[int, int]], now: datetime) -> int:
    """Pending write-backs for these (customer id, tag id) pairs, when the channel is
    `wecom`. A pending write the other way for the same pair is dropped (never sent)."""
    if not (added or removed) or session.scalar(
            select(Settings.channel).where(Settings.id == 1)) != "wecom":
        return 0
    queued = 0
    for action, pairs, opposite in (("add", added, "remove"), ("remove", removed, "add")):
        if not pairs:
            continue
        session.execute(delete(WeComTagWrite).where(
            WeComTagWrite.status == "pending", WeComTagWrite.action == opposite,
            tuple_(WeComTagWrite.customer_id, WeComTagWrite.tag_id).in_(pairs)))
        have = set(session.execute(select(WeComTagWrite.customer_id, WeComTagWrite.tag_id).where(
            WeComTagWrite.status == "pending", WeComTagWrite.action == action,
            tuple_(WeComTagWrite.customer_id, WeComTagWrite.tag_id).in_(pairs))).all())
        rows = [{"customer_id": c, "tag_id": t, "action": action, "status": "pending",
                 "attempts": 0, "created_at": now, "next_try_at": now}
                for c, t in pairs if (c, t) not in have]
        if rows:
            session.execute(insert(WeComTagWrite), rows)
            queued += len(rows)
    return queued


def pending_due(session, now: datetime) -> bool:
    return session.scalar(select(WeComTagWrite.id).where(
        WeComTagWrite.status == "pending", WeComTagWrite.next_try_at <= now).limit(1)) is not None


def write_tags(session, now: datetime, api) -> dict:
    """Send the due write-backs, one mark_tag per customer; commits per customer."""
    rows = session.scalars(
        select(WeComTagWrite).where(WeComTagWrite.status == "pending",
                                    WeComTagWrite.next_try_at <= now)
        .order_by(WeComTagWrite.id).limit(CLAIM)).all()
    by_customer: dict[int, list[WeComTagWrite]] = defaultdict(list)
    for row in rows:
        by_customer[row.customer_id].append(row)
    counts: Counter = Counter()
    for customer_id, writes in by_customer.items():
        customer = session.get(Customer, customer_id)
        absent = [w for w in writes if w.action == "remove" and w.tag.wecom_id is None]
        for w in absent:  # WeCom never had this tag: nothing to remove there
            w.status, w.done_at, w.last_error = "done", now, "not a WeCom tag: nothing to remove"
        writes = [w for w in writes if w not in absent]
        if absent:
            counts["done"] += len(absent)
            if not writes:
                session.commit()
                continue
        try:
            if customer.owner is None:
                raise Permanent("the customer has no owner to mark the tag as")
            ids = {w.id: _wecom_id(session, api, w.tag) for w in writes}
            api.mark_tag(customer.owner.userid, customer.external_id,
                         add=[ids[w.id] for w in writes if w.action == "add"],
                         remove=[ids[w.id] for w in writes if w.action == "remove"])
        except Exception as exc:  # NotSent, OutcomeUnknown, Rejected, Permanent
            session.rollback()  # an add_corp_tag id stays only if it was committed
            for w in writes:
                _failed(w, now, str(exc), permanent=isinstance(exc, Permanent))
                counts[w.status] += 1
        else:
            for w in writes:
                w.status, w.done_at, w.attempts = "done", now, w.attempts + 1
            counts["done"] += len(writes)
        session.commit()
    return dict(counts)


class Permanent(Exception):
    """Trying again cannot help."""


def _wecom_id(session, api, tag: Tag) -> str:
    if tag.wecom_id is None:
        tag.wecom_id = api.add_corp_tag(tag.name, tag.group_name)
        session.commit()  # created in WeCom: keep its id even if mark_tag fails
    return tag.wecom_id


def _failed(write: WeComTagWrite, now: datetime, reason: str, permanent: bool) -> None:
    write.attempts += 1
    write.last_error = reason[:300]
    if permanent or write.attempts >= MAX_ATTEMPTS:
        write.status = "failed"
    else:
        write.next_try_at = now + timedelta(seconds=BACKOFF[min(write.attempts, len(BACKOFF)) - 1])
