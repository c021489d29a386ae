"""Housekeeping jobs run by the workers on a schedule (see jobs/schedule.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from jobs.queues import job_app, redis_connection
from models import db

HEARTBEAT_KEY = "sop:heartbeat"


def heartbeat() -> str:
    """Record that a worker ran a job just now and could reach the database.

    Stores the time (ISO 8601, UTC) under `sop:heartbeat` and returns it; the admin
    home compares it with the clock to show whether the workers are alive.
    """
    app = job_app()
    with app.app_context():
        db.session.execute(text("SELECT 1"))  # a worker that cannot reach the DB is not alive
        at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        redis_connection(app).set(HEARTBEAT_KEY, at)
    return at


def last_heartbeat(app) -> datetime | None:
    """When a worker last ran the heartbeat, or None if never (for the admin home)."""
    raw = redis_connection(app).get(HEARTBEAT_KEY)
    return datetime.fromisoformat(raw.decode()) if raw else None


# Processed journal rows and seen event ids are kept this long: long enough for a
# replayed event to be recognised as a duplicate or as older than what it would undo.
RETENTION_DAYS = 90


def prune(session, now: datetime) -> dict:
    """Drop processed change-journal rows and seen event ids older than RETENTION_DAYS."""
    from sqlalchemy import delete

    from models import ChangeJournal, ProcessedEvent

    cutoff = now - timedelta(days=RETENTION_DAYS)
    journal = session.execute(delete(ChangeJournal).where(
        ChangeJournal.processed_at.is_not(None), ChangeJournal.processed_at < cutoff)).rowcount
    events = session.execute(delete(ProcessedEvent).where(
        ProcessedEvent.received_at < cutoff)).rowcount
    session.commit()
    return {"journal_rows": journal, "event_ids": events}


def prune_job() -> dict:
    with job_app().app_context():
        return prune(db.session, datetime.now(timezone.utc))
