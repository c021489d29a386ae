"""Thin RQ entry points for sending: one job per few due batches, reconciliation.

The tick commits its batches, then `enqueue_due` puts the due ones on the send
queue, up to JOB_BATCHES per job (an SOP's batch size and interval are its pacing
and stay as planned; a job only carries batches already due, so fewer jobs, not
bigger or earlier sends). Redis remembers which job carries each batch, so a batch
already waiting or running is not enqueued twice; and if Redis loses every job, the
next tick enqueues them again from the database (the batch rows are the truth).
"""
from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone

from rq import Retry
from rq.job import Job, JobStatus
from sqlalchemy import event
from sqlalchemy.orm import Session

from jobs.queues import SEND_QUEUE, job_app, queue, redis_connection
from models import db
from models.audit import acting_as

SEND_TIMEOUT = 300  # seconds per job; a batch is one HTTP call plus its bookkeeping
JOB_BATCHES = 10  # due batches one job carries at most (each under its own lock)
CARRIER_TTL = 7 * 24 * 3600  # as long as a failed job is kept
WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def _now(at: str | None) -> datetime:
    return datetime.fromisoformat(at) if at else datetime.now(timezone.utc)


@contextmanager
def pinned_session(app):
    """A session on one connection for the whole job: a sender's batch lock (advisory,
    PostgreSQL) is taken on it and survives the batch's commits, so a job needs one
    connection, not two (jobs.tick_lock.batch_lock). Objects stay loaded across
    commits: the job's batches share their SOP, step and sender rows."""
    with db.engines[None].connect() as conn, \
            Session(bind=conn, expire_on_commit=False) as session:
        kept: list = []  # the identity map holds rows weakly: keep them for the job
        event.listen(session, "loaded_as_persistent", lambda _, row: kept.append(row))
        yield session  # what must be fresh per batch, send_batch reads afresh


def run_batches(batch_ids: list[int], at: str | None = None) -> dict:
    """Send the given batches one after the other. A batch whose channel should be
    tried later does not stop the others; RetryLater is raised at the end, so RQ's
    Retry runs the job again (the batches already sent are `finished` then)."""
    from jobs.channels import channel_for
    from jobs.sender import RetryLater, send_batch

    app, outcomes, retry = job_app(), Counter(), None
    with app.app_context(), acting_as("sender"):
        channels: dict = {}

        def channel(name):  # built once per job (a WeCom client reads the settings)
            if name not in channels:
                channels[name] = channel_for(name, app)
            return channels[name]

        try:
            with pinned_session(app) as session:
                for batch_id in batch_ids:
                    try:
                        outcomes[send_batch(session, batch_id, _now(at), channel)] += 1
                    except RetryLater as exc:
                        outcomes["retry_later"] += 1
                        retry = exc
        finally:
            db.session.remove()
    if retry is not None:
        raise retry
    return dict(outcomes)


def run_batch(batch_id: int, at: str | None = None) -> str:
    """One batch (what the jobs ran before they carried several); its outcome."""
    return next(iter(run_batches([batch_id], at)))


def job_id(batch_ids: list[int]) -> str:
    first, last = batch_ids[0], batch_ids[-1]
    return f"send-batch-{first}" if len(batch_ids) == 1 else f"send-batches-{first}-{last}"


def _carrier_key(batch_id: int) -> str:
    return f"sop:send-carrier:{batch_id}"


def carriers(connection, batch_ids: list[int]) -> list[str]:
    """Per batch, the id of the last job enqueued to send it (one round trip)."""
    found = connection.mget([_carrier_key(b) for b in batch_ids]) if batch_ids else []
    return [f.decode() if f else job_id([b]) for b, f in zip(batch_ids, found)]


def enqueue_due(app, session, now: datetime) -> int:
    """The due batches that have no job waiting or running, JOB_BATCHES per job;
    returns how many batches were enqueued."""
    from jobs.planner import due_batches

    q, connection = queue(app, SEND_QUEUE), redis_connection(app)
    due = due_batches(session, now)
    ids = carriers(connection, due)
    known = set(ids)
    jobs = dict(zip(known, Job.fetch_many(list(known), connection=connection)))
    todo = [b for b, c in zip(due, ids) if not _live(session, jobs[c], b)]
    for start in range(0, len(todo), JOB_BATCHES):
        group = todo[start:start + JOB_BATCHES]
        job = q.enqueue(run_batches, group, job_id=job_id(group), job_timeout=SEND_TIMEOUT,
                        result_ttl=3600, failure_ttl=CARRIER_TTL,
                        retry=Retry(max=3, interval=[30, 120, 600]))
        with connection.pipeline() as pipe:
            for batch_id in group:
                pipe.set(_carrier_key(batch_id), job.id, ex=CARRIER_TTL)
            pipe.execute()
    return len(todo)


def _live(session, job: Job | None, batch_id: int) -> bool:
    """A job waiting for this batch, or one running it. A job Redis calls `started`
    whose worker was killed holds no batch lock: that one is dead and is replaced
    (so is a running job that has not reached this batch yet: the batch lock and
    the claim make the second sender find it busy or finished)."""
    from jobs.tick_lock import batch_lock

    status = job.get_status(refresh=False) if job is not None else None
    if status in WAITING:
        return True
    if status != JobStatus.STARTED:
        return False
    with batch_lock(session, batch_id) as free:
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
