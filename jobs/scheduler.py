"""`python -m jobs.scheduler`: RQ's cron scheduler, safe to run on every host.

`rq cron` has no leader election: two of them would each enqueue every periodic
job. Here a run belongs to a *period* (the interval's multiples since the epoch,
so every host computes the same ones) and a scheduler enqueues it only after
winning `SET NX` on that period's key in Redis. However many schedulers run,
each periodic job is enqueued once per period, under the job id
`periodic-<name>-<period start>`; if one scheduler dies the others go on.
Schedulers wake at period boundaries (not N seconds after they started), so they
all try at the same moment and exactly one wins.
"""
from __future__ import annotations

import logging
import os
import sys
from datetime import datetime, timedelta, timezone
from importlib import import_module

from redis import Redis
from rq.cron import CronJob, CronScheduler
from rq.queue import Queue
from rq.utils import now

PERIOD_KEY = "sop:periodic:{name}:{stamp}"


def period_start(moment: datetime, interval: int) -> datetime:
    stamp = int(moment.timestamp()) // interval * interval
    return datetime.fromtimestamp(stamp, timezone.utc)


def period_key(name: str, start: datetime) -> str:
    return PERIOD_KEY.format(name=name, stamp=int(start.timestamp()))


def run_id(name: str, start: datetime) -> str:
    return f"periodic-{name}-{int(start.timestamp())}"


class PeriodicCronJob(CronJob):
    """An interval job that fires at period boundaries and is enqueued once per period."""

    def get_next_enqueue_time(self) -> datetime:
        base = self.latest_enqueue_time or now()
        return period_start(base, self.interval) + timedelta(seconds=self.interval)

    def should_run(self) -> bool:
        # The first look runs the current period at once, unless another scheduler has.
        return self.next_enqueue_time is None or now() >= self.next_enqueue_time

    def enqueue(self, connection: Redis):
        start = period_start(now(), self.interval)
        # The key outlives its period, so a scheduler started late in it stays out.
        if not connection.set(period_key(self.name, start), "1", nx=True, ex=2 * self.interval):
            return None
        queue = Queue(self.queue_name, connection=connection)
        with connection.pipeline() as pipeline:
            job = queue.enqueue(self.func, args=self.args, kwargs=self.kwargs,
                                job_id=run_id(self.name, start), **self.job_options,
                                pipeline=pipeline)
            pipeline.zadd(self.job_history_key, {job.id: start.timestamp()})
            pipeline.execute()
        logging.getLogger(__name__).info("Enqueued %s for the period from %s", job.id,
                                         start.isoformat())
        return job


class PeriodicScheduler(CronScheduler):
    def register(self, func, queue_name, **options) -> CronJob:
        if not options.get("interval") or options.get("cron"):
            raise ValueError("periodic jobs are declared with an interval (jobs/schedule.py)")
        job = PeriodicCronJob(queue_name=queue_name, func=func, **options)
        self._cron_jobs.append(job)
        return job


def build(connection: Redis, module: str = "jobs.schedule") -> PeriodicScheduler:
    """A scheduler for the `PERIODIC_JOBS` of `module` (a test may declare its own)."""
    from jobs import schedule

    scheduler = PeriodicScheduler(connection=connection)
    schedule.register_all(scheduler.register, import_module(module).PERIODIC_JOBS)
    return scheduler


def connection_from_env() -> Redis:
    url = os.environ.get("RQ_REDIS_URL") or os.environ.get("REDIS_URL")
    if url:
        return Redis.from_url(url)
    from jobs.queues import job_app, redis_connection

    return redis_connection(job_app())  # the embedded Redis of a single machine


def main(argv: list[str]) -> None:
    """`python -m jobs.scheduler [MODULE]`; Redis from RQ_REDIS_URL or REDIS_URL.
    MODULE (else $SOP_SCHEDULE_MODULE, else jobs.schedule) declares PERIODIC_JOBS:
    the cross-host test runs the production layout on a faster schedule with it."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    module = argv[0] if argv else os.environ.get("SOP_SCHEDULE_MODULE") or "jobs.schedule"
    build(connection_from_env(), module).start()


if __name__ == "__main__":
    main(sys.argv[1:])
