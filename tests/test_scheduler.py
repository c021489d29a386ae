"""Schedulers on several hosts (jobs/scheduler.py): each periodic job runs once per period.

Two real `python -m jobs.scheduler` processes and a real `rq worker` on the test's
Redis, with a probe job every few seconds; one scheduler is killed half way.
"""
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from redis import Redis

from jobs.scheduler import PeriodicCronJob, period_start, run_id
from tests.support.periodic_probe import INTERVAL, PERIODIC_JOBS, RUNS_KEY

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def test_periods_are_aligned_to_the_epoch():
    moment = datetime(2026, 3, 1, 8, 0, 59, tzinfo=timezone.utc)
    assert period_start(moment, 60) == datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
    assert period_start(moment, 24 * 3600) == datetime(2026, 3, 1, tzinfo=timezone.utc)
    assert run_id("tick", period_start(moment, 60)) == f"periodic-tick-{1772352000}"


def test_a_second_enqueue_in_the_same_period_is_refused(redis_url):
    conn = Redis.from_url(redis_url)
    job = PeriodicCronJob("maintenance", func=_noop, interval=3600, name="once-test")
    first, second = job.enqueue(conn), job.enqueue(conn)
    assert first is not None and second is None
    assert first.id == run_id("once-test", period_start(datetime.now(timezone.utc), 3600))


def _noop():
    return None


def _spawn(args, env, log: Path):
    out = open(log, "wb")
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)


def _stamps(ids) -> list[int]:
    return sorted(int(i.rsplit("-", 1)[1]) for i in ids)


def test_two_schedulers_run_each_period_once(redis_url, tmp_path):
    conn = Redis.from_url(redis_url)
    conn.delete(RUNS_KEY, f"rq:cron_job:{PERIODIC_JOBS[0].name}:jobs")
    env = dict(os.environ, RQ_REDIS_URL=redis_url, REDIS_URL=redis_url)
    schedulers = [_spawn([sys.executable, "-m", "jobs.scheduler", "tests.support.periodic_probe"],
                         env, tmp_path / f"scheduler-{n}.log") for n in (1, 2)]
    worker = _spawn([str(VENV_BIN / "rq"), "worker", "--url", redis_url, "maintenance"],
                    env, tmp_path / "worker.log")
    try:
        time.sleep(4 * INTERVAL)
        _stop(schedulers[0], signal.SIGKILL)  # a host lost: the other one carries on
        time.sleep(4 * INTERVAL)
        _stop(schedulers[1])
        deadline = time.monotonic() + 60
        while conn.llen("rq:queue:maintenance") and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)  # the last run finishing
    finally:
        for proc in (*schedulers, worker):
            _stop(proc)
    logs = "\n".join(p.read_text() for p in sorted(tmp_path.glob("*.log")))
    enqueued = [i.decode() for i in conn.zrange("rq:cron_job:probe:jobs", 0, -1)]
    runs = [i.decode() for i in conn.lrange(RUNS_KEY, 0, -1)]
    assert len(runs) == len(set(runs)), f"a period ran twice: {runs}\n{logs}"
    assert sorted(runs) == sorted(enqueued), logs
    stamps = _stamps(runs)
    assert len(stamps) >= 6, logs
    assert stamps == list(range(stamps[0], stamps[-1] + 1, INTERVAL)), "a period was skipped"
    for n in (1, 2):  # both were running and competing for the same periods
        assert "registering birth" in (tmp_path / f"scheduler-{n}.log").read_text(), logs
    assert logs.count("Enqueued periodic-probe-") == len(runs)
