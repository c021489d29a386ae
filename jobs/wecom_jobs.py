"""Thin RQ entry points of the WeCom integration (SPEC §9), and the inline welcome.

Jobs run on the send queue (they are WeCom calls, short). Each enqueue is only a
shortcut: the periodic `run_wecom` (jobs/schedule.py) picks up what a lost job
left (callbacks whose details were never fetched, due tag write-backs).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from rq import Retry

from jobs.queues import SEND_QUEUE, job_app, queue
from models import db
from models.audit import acting_as

log = logging.getLogger("sop.wecom")
JOB_TIMEOUT = 120
KEEP = {"job_timeout": JOB_TIMEOUT, "result_ttl": 3600, "failure_ttl": 7 * 24 * 3600}
SYNC_GRACE = timedelta(minutes=1)  # a callback younger than this has its own job


def _now(at: str | None) -> datetime:
    return datetime.fromisoformat(at) if at else datetime.now(timezone.utc)


def _api(app, **kwargs):
    from jobs.wecom_api import WeComApi
    return WeComApi.from_app(app, **kwargs)


# --- inline, from the callback ----------------------------------------------------------
def send_welcome(app, welcome_code: str, text: str) -> str:
    """send_welcome_msg with a short timeout; what happened, for the callback journal."""
    from jobs.wecom_api import WELCOME_TIMEOUT

    try:
        _api(app, timeout=WELCOME_TIMEOUT).send_welcome(welcome_code, text)
    except Exception as exc:  # never fails the callback: WeCom would retry it
        log.warning("WeCom welcome message not sent: %s", exc)
        return f"failed: {exc}"
    return "sent"


# --- jobs ---------------------------------------------------------------------------
def run_contact_sync(callback_id: int, at: str | None = None) -> dict:
    """externalcontact/get for one add/edit callback, applied as events."""
    from jobs.wecom_sync import sync_contact
    from models import WeComCallback

    app = job_app()
    with app.app_context(), acting_as("wecom"):
        try:
            row = db.session.get(WeComCallback, callback_id)
            if row is None or row.synced_at is not None:
                return {"skipped": "already synced"}
            answer = _api(app).contact(row.external_userid)  # raises: RQ retries
            return sync_contact(db.session, _now(at), callback_id, answer)
        finally:
            db.session.remove()


def run_tag_catalogue(at: str | None = None) -> dict:
    from jobs.wecom_sync import sync_tag_catalogue

    app = job_app()
    with app.app_context(), acting_as("wecom"):
        try:
            return sync_tag_catalogue(db.session, _now(at), _api(app).corp_tags())
        finally:
            db.session.remove()


def run_tag_writes(at: str | None = None) -> dict:
    from jobs.wecom_tags import pending_due, write_tags

    app = job_app()
    with app.app_context(), acting_as("wecom"):
        try:
            now = _now(at)
            if not pending_due(db.session, now):
                return {}
            return write_tags(db.session, now, _api(app))
        finally:
            db.session.remove()


def run_wecom(at: str | None = None) -> dict:
    """Periodic: details of callbacks whose job was lost, and the due tag write-backs."""
    from jobs.wecom_sync import unsynced

    app = job_app()
    now = _now(at)
    with app.app_context():
        try:
            missed = unsynced(db.session, now - SYNC_GRACE)
        finally:
            db.session.remove()
    synced = 0
    for callback_id in missed:
        try:
            run_contact_sync(callback_id, at)
            synced += 1
        except Exception as exc:  # one contact failing leaves the others to be done
            log.warning("WeCom contact sync of callback %s failed: %s", callback_id, exc)
    return {"contacts": synced, "tags": run_tag_writes(at)}


# --- enqueueing (after a commit) -------------------------------------------------------
def _enqueue(app, func, *args, job_id: str) -> None:
    try:
        queue(app, SEND_QUEUE).enqueue(func, *args, job_id=job_id,
                                       retry=Retry(max=3, interval=[10, 60, 300]), **KEEP)
    except Exception as exc:  # Redis away: the periodic run picks it up
        log.warning("could not enqueue %s: %s", job_id, exc)


def enqueue_contact_sync(app, callback_id: int) -> None:
    _enqueue(app, run_contact_sync, callback_id, job_id=f"wecom-contact-{callback_id}")


def enqueue_tag_catalogue(app) -> None:
    _enqueue(app, run_tag_catalogue, job_id="wecom-tag-catalogue")


def enqueue_tag_writes(app) -> None:
    _enqueue(app, run_tag_writes, job_id="wecom-tag-writes")
