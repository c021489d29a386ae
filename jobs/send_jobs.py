"""Thin RQ entry points for sending: one job per batch (`send-batch-<id>`), reconciliation.

The tick commits its batches, then `enqueue_due` puts each due one on the send
queue. A job id names its batch, so a batch already waiting or running is not
enqueued twice; and if Redis loses every job, the next tick enqueues them again
from the database (the batch rows are the truth).
"""
from __future__ import annotations

from datetime import datetime, timezone

from rq import Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from jobs.queues import SEND_QUEUE, job_app, queue, redis_connection
from models import db
from models.audit import acting_as

SEND_TIMEOUT = 300  # seconds; a batch is one HTTP call plus its bookkeeping
WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def _now(at: str | None) -> datetime:
    return datetime.fromisoformat(at) if at else datetime.now(timezone.utc)


def run_batch(batch_id: int, at: str | None = None) -> str:
    """Send one batch; RetryLater propagates so RQ's Retry runs it again with backoff."""
    from jobs.channels import channel_for
    from jobs.sender import send_batch

    app = job_app()
    with app.app_context(), acting_as("sender"):
        try:
            return send_batch(db.session, batch_id, _now(at),
                              lambda name: channel_for(name, app))
        finally:
            db.session.remove()


def job_id(batch_id: int) -> str:
    return f"send-batch-{batch_id}"


def enqueue_due(app, session, now: datetime) -> int:
    """One job per due batch that has none waiting or running."""
    from jobs.planner import due_batches

    q, connection, enqueued = queue(app, SEND_QUEUE), redis_connection(app), 0
    for batch_id in due_batches(session, now):
        if _has_live_job(session, connection, batch_id):
            continue
        q.enqueue(run_batch, batch_id, job_id=job_id(batch_id), job_timeout=SEND_TIMEOUT,
                  result_ttl=3600, failure_ttl=7 * 24 * 3600,
                  retry=Retry(max=3, interval=[30, 120, 600]))
        enqueued += 1
    return enqueued


def _has_live_job(session, connection, batch_id: int) -> bool:
    """A job waiting for this batch, or one running it. A job Redis calls `started`
    whose worker was killed holds no batch lock: that one is dead and is replaced."""
    from jobs.tick_lock import batch_lock

    try:
        status = Job.fetch(job_id(batch_id), connection=connection).get_status()
    except NoSuchJobError:
        return False
    if status in WAITING:
        return True
    if status != JobStatus.STARTED:
        return False
    with batch_lock(session.get_bind(), batch_id) as free:
        return not free


def run_reconcile(at: str | None = None) -> dict:
    """Every 10 minutes (jobs/schedule.py): WeCom's per-customer results."""
    from jobs.channels.wecom import WeComChannel
    from jobs.reconcile import reconcile

    app = job_app()
    with app.app_context(), acting_as("sender"):
        try:
            if not _has_wecom_batches():  # nothing to ask (and maybe no WeCom configured)
                return {"batches": 0}
            return reconcile(db.session, _now(at), WeComChannel.from_app(app))
        finally:
            db.session.remove()


def _has_wecom_batches() -> bool:
    from sqlalchemy import select

    from models import SendBatch
    return db.session.scalar(select(SendBatch.id).where(
        SendBatch.channel == "wecom", SendBatch.status == "queued").limit(1)) is not None
