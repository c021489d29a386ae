"""Is this installation ready to work? The checks behind `GET /readyz` (SPEC §10).

`readiness(session, redis, now)` asks the database, Redis, the workers' heartbeat
(`sop:heartbeat`, jobs/maintenance.py) and the last finished tick (`sop:last_tick`,
jobs/engine_jobs.py), and reports the journal lag and the queue depth beside them.
Only the first four decide `ok`: a backlog is something to watch, not a reason to
take a web server out of the load balancer. Nothing secret goes into the answer
(no URLs, no hosts, no exception text beyond its class name).
"""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import func, select, text

from jobs.maintenance import HEARTBEAT_KEY
from jobs.queues import QUEUES

LAST_TICK_KEY = "sop:last_tick"  # {"at", "seconds", "rounds"} of the last finished tick
HEARTBEAT_MAX_AGE = 120  # seconds: the heartbeat runs every minute
TICK_MAX_AGE = 180  # seconds: the tick runs every minute


def record_tick(redis, at: datetime, seconds: float, rounds: int) -> None:
    """Called by the tick's job entry point once a tick has finished."""
    redis.set(LAST_TICK_KEY, json.dumps(
        {"at": at.isoformat(timespec="seconds"), "seconds": round(seconds, 3),
         "rounds": rounds}))


def _age(raw: bytes | None, now: datetime) -> int | None:
    if not raw:
        return None
    value = raw.decode()
    if value.startswith("{"):
        value = json.loads(value)["at"]
    return int((now - datetime.fromisoformat(value)).total_seconds())


def _fresh(age: int | None, limit: int) -> dict:
    return {"ok": age is not None and age <= limit, "age_seconds": age,
            "max_age_seconds": limit}


def _failed(exc: Exception) -> dict:
    return {"ok": False, "error": exc.__class__.__name__}


def journal_lag(session, now: datetime) -> dict:
    """Unprocessed change-journal rows and the age of the oldest (partial index)."""
    from models import ChangeJournal

    unprocessed = ChangeJournal.processed_at.is_(None)
    count = session.scalar(select(func.count()).select_from(ChangeJournal).where(unprocessed))
    oldest = session.scalar(select(ChangeJournal.at).where(unprocessed)
                            .order_by(ChangeJournal.id).limit(1))
    return {"unprocessed": count or 0,
            "oldest_age_seconds": int((now - oldest).total_seconds()) if oldest else None}


def queue_depth(redis, now: datetime) -> dict:
    """Waiting jobs per queue and the age of the oldest waiting one (seconds)."""
    from rq import Queue

    out = {}
    for name in QUEUES:
        q = Queue(name, connection=redis)
        first = q.get_job_ids(0, 1)
        job = q.fetch_job(first[0]) if first else None
        at = job.enqueued_at if job is not None else None
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=now.tzinfo)
        out[name] = {"depth": q.count,
                     "oldest_age_seconds": int((now - at).total_seconds()) if at else None}
    return out


def readiness(session, redis, now: datetime) -> dict:
    """{"ok": bool, "checks": {name: {"ok": bool, ...}}}; see the module docstring."""
    checks: dict[str, dict] = {}
    try:
        session.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
        checks["journal"] = {"ok": True, **journal_lag(session, now)}
    except Exception as exc:  # any driver error means "not reachable"
        session.rollback()
        checks["database"] = _failed(exc)
    try:
        redis.ping()
        checks["redis"] = {"ok": True}
        checks["heartbeat"] = _fresh(_age(redis.get(HEARTBEAT_KEY), now), HEARTBEAT_MAX_AGE)
        checks["tick"] = _fresh(_age(redis.get(LAST_TICK_KEY), now), TICK_MAX_AGE)
        checks["queues"] = {"ok": True, **queue_depth(redis, now)}
    except Exception as exc:
        checks["redis"] = _failed(exc)
        checks["heartbeat"] = {"ok": False, "error": "redis unavailable"}
        checks["tick"] = {"ok": False, "error": "redis unavailable"}
    deciding = ("database", "redis", "heartbeat", "tick")
    return {"ok": all(checks[name]["ok"] for name in deciding),
            "at": now.isoformat(timespec="seconds"), "checks": checks}
