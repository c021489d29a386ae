"""Every periodic job, declared once, for `rq cron jobs/schedule.py`.

`python -m jobs.scheduler` (deploy/production/, any number per installation) reads
`PERIODIC_JOBS` and enqueues each job once per period of `interval` seconds; the
demo's single `rq cron jobs/schedule.py` imports this module, which registers them
with RQ. Any worker may then run a job.

A periodic job has no RQ `Retry`: the next run comes within one interval anyway.
`ttl` drops a run still waiting after one interval, so runs do not pile up while
the workers are down.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Callable

from rq import cron

from jobs.queues import MAINTENANCE_QUEUE, MAX_JOB_TIMEOUT, QUEUES, SEND_QUEUE, TICK_QUEUE


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    func: str  # dotted path of a thin job entry point
    interval: int  # seconds between runs
    job_timeout: int  # seconds; at most jobs.queues.MAX_JOB_TIMEOUT
    queue: str = MAINTENANCE_QUEUE
    result_ttl: int = 3600  # keep a finished run's result an hour
    failure_ttl: int = 7 * 24 * 3600  # keep a failed run a week, for `rq info` and the admin

    def function(self) -> Callable:
        module, _, attr = self.func.rpartition(".")
        return getattr(import_module(module), attr)

    def problems(self) -> list[str]:
        """What is wrong with this declaration (empty when it is fine)."""
        out = []
        if self.interval < 1:
            out.append("interval must be at least 1 second")
        if not 1 <= self.job_timeout <= MAX_JOB_TIMEOUT:
            out.append(f"job_timeout must be between 1 and {MAX_JOB_TIMEOUT} seconds")
        if self.failure_ttl < 1 or self.result_ttl < 1:
            out.append("result_ttl and failure_ttl must be at least 1 second")
        if self.queue not in QUEUES:
            out.append(f"unknown queue '{self.queue}'")
        return out


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob("heartbeat", "jobs.maintenance.heartbeat", interval=60, job_timeout=30),
    # The evaluator (jobs/evaluator.py, DESIGN "How data flows"); a run that finds
    # another one going exits at once.
    PeriodicJob("tick", "jobs.engine_jobs.run_tick", interval=60, job_timeout=600,
                queue=TICK_QUEUE),
    # WeCom's per-customer results of queued batches (jobs/reconcile.py).
    PeriodicJob("reconcile", "jobs.send_jobs.run_reconcile", interval=600, job_timeout=300,
                queue=SEND_QUEUE),
    # WeCom (jobs/wecom_jobs.py): contact details a lost job never fetched, and the
    # auto-tags due to be written back with mark_tag.
    PeriodicJob("wecom", "jobs.wecom_jobs.run_wecom", interval=60, job_timeout=300,
                queue=SEND_QUEUE),
    PeriodicJob("prune", "jobs.maintenance.prune_job", interval=24 * 3600, job_timeout=600),
)


def register_all(register=cron.register, jobs: tuple[PeriodicJob, ...] | None = None) -> None:
    """Hand every declared job (or `jobs`) to RQ's cron registry, or to `register`:
    jobs/scheduler.py's, which enqueues each once per period on any number of hosts."""
    for job in PERIODIC_JOBS if jobs is None else jobs:
        problems = job.problems()
        if problems:
            raise ValueError(f"periodic job '{job.name}': {'; '.join(problems)}")
        register(job.function(), job.queue, interval=job.interval,
                 job_timeout=job.job_timeout, ttl=job.interval,
                 result_ttl=job.result_ttl, failure_ttl=job.failure_ttl, name=job.name)


# `rq cron` imports this module and then reads what it registered.
register_all()
