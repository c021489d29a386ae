"""The production schedule (jobs/schedule.py) on a faster clock, for the cross-host test:
its hosts run `sop-run scheduler` with SOP_SCHEDULE_MODULE set to this module."""
from dataclasses import replace

from jobs.schedule import PERIODIC_JOBS as PRODUCTION

FAST = {"heartbeat": 5, "tick": 5, "wecom": 10, "reconcile": 20}

PERIODIC_JOBS = tuple(replace(job, interval=FAST.get(job.name, job.interval))
                      for job in PRODUCTION)
