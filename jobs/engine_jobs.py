"""Thin RQ entry points for the evaluator: an app context, the clock, a service call."""
from __future__ import annotations

import time
from datetime import datetime, timezone

from rq import Retry

from jobs import metrics
from jobs.health import record_tick
from jobs.queues import TICK_QUEUE, job_app, queue, redis_connection
from models import db
from models.audit import acting_as

TICK_TIMEOUT = 600


def run_tick(at: str | None = None) -> dict:
    """One tick as of `at` (ISO 8601) or now; exits at once if another is running."""
    from jobs.evaluator import tick

    from jobs.send_jobs import enqueue_due
    from jobs.wecom_jobs import enqueue_tag_writes
    from jobs.wecom_tags import pending_due

    now = datetime.fromisoformat(at) if at else datetime.now(timezone.utc)
    app = job_app()
    started = time.perf_counter()
    with app.app_context(), acting_as("engine"):
        try:
            summary = tick(db.session, now)
            if "skipped" not in summary:  # after the commit: the batches are on record
                summary["enqueued"] = enqueue_due(app, db.session, now)
                if pending_due(db.session, now):  # auto-tags to write back to WeCom
                    enqueue_tag_writes(app)
                seconds = time.perf_counter() - started
                record_tick(redis_connection(app), datetime.now(timezone.utc), seconds,
                            summary["rounds"])
                metrics.observe_tick(seconds, summary["rounds"])
            return summary
        finally:
            db.session.remove()


def enqueue_tick(app) -> None:
    """Run a tick soon (after a start, a resume or a sync) instead of within the minute.

    Only a shortcut: the periodic tick would do the same work, so a lost job
    (Redis flushed) loses nothing.
    """
    queue(app, TICK_QUEUE).enqueue(
        run_tick, job_timeout=TICK_TIMEOUT, result_ttl=3600, failure_ttl=7 * 24 * 3600,
        retry=Retry(max=2, interval=[10, 60]))
