"""Housekeeping jobs run by the workers on a schedule (see jobs/schedule.py)."""
from __future__ import annotations

from datetime import datetime, timezone

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
