"""A periodic job for the scheduler tests: `python -m jobs.scheduler tests.support.periodic_probe`.

Each run appends its RQ job id (`periodic-probe-<period start>`) to a Redis list,
so a test counts the runs the workers really executed.
"""
from rq import get_current_job

from jobs.queues import MAINTENANCE_QUEUE
from jobs.schedule import PeriodicJob

RUNS_KEY = "sop:test:probe-runs"
INTERVAL = 3  # seconds

PERIODIC_JOBS = (
    PeriodicJob("probe", "tests.support.periodic_probe.record", interval=INTERVAL,
                job_timeout=30, queue=MAINTENANCE_QUEUE),
)


def record() -> str:
    job = get_current_job()
    job.connection.rpush(RUNS_KEY, job.id)
    return job.id
