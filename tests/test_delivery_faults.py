"""Exactly once under faults (SPEC §5, DESIGN "Rules that keep it safe").

Each test sends through real RQ workers (separate processes where a process is
killed) into the fake WeCom server, then checks from the server's log and the
database: every planned delivery queued once — zero duplicates, zero lost.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from jobs.channels import channel_for
from jobs.queues import SEND_QUEUE, SEND_WORKER, SendWorker, queue, redis_connection
from jobs.send_jobs import enqueue_due, pinned_session, run_batch, run_batches
from jobs.sender import RetryLater, send_batch
from models import Delivery, SendBatch, db
from tests.engine_support import added, doc, events, load, local, run_tick, sop, step
from tests.support.fake_wecom import FakeWeCom

ROOT = Path(__file__).resolve().parents[1]
START = local(2025, 3, 1, 8)
TEN = local(2025, 3, 1, 10)
CUSTOMERS = tuple(f"c{i}" for i in range(1, 8))


@pytest.fixture
def wecom(app):
    with FakeWeCom().start() as server:
        connection = redis_connection(app)
        connection.flushdb()
        yield server
        connection.flushdb()


def set_up(wecom, size=3) -> list[int]:
    settings = {"channel": "wecom", "quota": {"limit": 1, "period": "day"},
                "wecom": {"corp_id": wecom.corp_id, "secret": wecom.secret,
                          "api_base_url": wecom.base_url}}
    nurture = sop("care", target={"tags_any": ["VIP"]}, batch={"size": size,
                                                               "interval_minutes": 0},
                  steps=[step(0, "10:00", text="春季护理提醒")])
    load(doc([nurture], settings=settings), START)
    run_tick(START + timedelta(minutes=1))
    owners = ("zhangsan", "lisi")
    events(*[added(c, owner=owners[i % 2], tags=["VIP"]) for i, c in enumerate(CUSTOMERS)],
           now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))
    return list(db.session.scalars(select(SendBatch.id).order_by(SendBatch.id)))


def assert_exactly_once(wecom) -> None:
    """Every customer received once, and the database says every delivery is queued."""
    received = Counter(wecom.received())
    assert [pair for pair, n in received.items() if n > 1] == []  # zero duplicates
    assert sorted(c for _, c in received) == sorted(CUSTOMERS)  # zero lost
    db.session.expire_all()
    assert {d.status for d in db.session.scalars(select(Delivery))} == {"queued"}
    assert {b.status for b in db.session.scalars(select(SendBatch))} == {"queued"}


def worker_env(app) -> dict:
    return {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": app.config["REDIS_URL"], "SECRET_KEY": "test-secret",
            "PYTHONPATH": str(ROOT)}


def start_worker(app, burst=True) -> subprocess.Popen:
    """A real `rq worker` process, the send queue's (no fork per job), in its own group."""
    args = [str(Path(sys.executable).parent / "rq"), "worker", "-w", SEND_WORKER,
            "-u", app.config["REDIS_URL"], SEND_QUEUE]
    if burst:
        args.insert(2, "--burst")
    log = open(Path(app.instance_path) / "worker.log", "ab")
    return subprocess.Popen(args, cwd=ROOT, env=worker_env(app), start_new_session=True,
                            stdout=log, stderr=log)


def kill_tree(pid: int) -> None:
    """SIGKILL a worker and any work horse (RQ starts a horse in a session of its own),
    as a machine that dies would."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    doomed, todo = [], [pid]
    while todo:
        current = todo.pop()
        doomed.append(current)
        todo.extend(children.get(current, ()))
    for victim in doomed:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_for(predicate, timeout=30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def drain(app) -> None:
    """Enqueue what is due (as the tick does) and run it in a burst worker."""
    enqueue_due(app, db.session, TEN)
    SendWorker([queue(app, SEND_QUEUE)], connection=redis_connection(app)).work(burst=True)


def test_a_worker_killed_mid_batch_then_restarted_sends_nothing_twice(app, wecom):
    set_up(wecom)
    # WeCom takes the first batch, then the worker dies before hearing the answer
    wecom.fail_next("add_msg_template", after_processing=True, delay=20)
    enqueue_due(app, db.session, TEN)
    worker = start_worker(app, burst=False)
    try:
        wait_for(lambda: len(wecom.messages) == 1)
    finally:
        kill_tree(worker.pid)
        worker.wait(timeout=10)
    db.session.expire_all()
    assert [b.status for b in db.session.scalars(select(SendBatch))].count("sending") == 1
    # restarted: the next tick finds the batch left sending (its lock died with the
    # worker) and enqueues it again; the new worker asks WeCom before sending. (On a
    # loaded machine the killed job's process may take a moment to let go of the lock:
    # a later tick then does it.)
    wait_for(lambda: enqueue_due(app, db.session, TEN) >= 1, timeout=10)
    assert start_worker(app).wait(timeout=120) == 0
    drain(app)
    assert_exactly_once(wecom)


def test_redis_flushed_between_tick_and_send_loses_nothing(app, wecom):
    batches = set_up(wecom)
    assert enqueue_due(app, db.session, TEN) == len(batches)
    redis_connection(app).flushdb()  # every queued job and cached token gone
    assert enqueue_due(app, db.session, TEN) == len(batches)  # rebuilt from the database
    SendWorker([queue(app, SEND_QUEUE)], connection=redis_connection(app)).work(burst=True)
    assert_exactly_once(wecom)


def test_two_senders_on_the_same_batches_at_once_send_each_once(app, wecom):
    batches = set_up(wecom)
    q = queue(app, SEND_QUEUE)
    for batch_id in batches:  # the same batch twice, as two ticks racing would enqueue it
        q.enqueue(run_batch, batch_id, job_id=f"a-{batch_id}")
        q.enqueue(run_batch, batch_id, job_id=f"b-{batch_id}")
    wecom.fail_next("add_msg_template", delay=0.5, times=len(batches))  # let them overlap
    workers = [start_worker(app), start_worker(app)]
    assert [w.wait(timeout=90) for w in workers] == [0, 0]
    assert_exactly_once(wecom)


def test_two_ticks_at_once_plan_each_delivery_once(app, wecom):
    from jobs.evaluator import tick

    load(doc([sop("care", target={"tags_any": ["VIP"]}, steps=[step(0, "10:00")])],
             settings={"channel": "task"}), START)
    run_tick(START + timedelta(minutes=1))
    events(*[added(c, tags=["VIP"]) for c in CUSTOMERS], now=local(2025, 3, 1, 9))
    results = []

    def one_tick():
        with app.app_context():
            results.append(tick(db.session, local(2025, 3, 1, 9, 5)))
            db.session.remove()

    threads = [threading.Thread(target=one_tick) for _ in range(2)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    run_tick(local(2025, 3, 1, 9, 6))  # whichever was skipped, the work is done once
    db.session.expire_all()
    rows = db.session.scalars(select(Delivery)).all()
    assert len(rows) == len(CUSTOMERS) and all(d.batch_id for d in rows)
    assert sum(b.size for b in db.session.scalars(select(SendBatch))) == len(CUSTOMERS)


@pytest.mark.parametrize("fault", [
    {"http_status": 500}, {"http_status": 503, "after_processing": True},
    {"errcode": 45009}, {"delay": 1.0, "after_processing": True},
])
def test_wecom_errors_and_timeouts_end_in_exactly_once(app, wecom, monkeypatch, fault):
    import jobs.channels.wecom as wecom_module

    monkeypatch.setattr(wecom_module, "TIMEOUT", 0.4)
    batches = set_up(wecom)
    wecom.fail_next("add_msg_template", times=2, **fault)
    now = TEN
    for attempt in range(4):  # the sender's retries, as RQ's Retry would run them
        if attempt == 1:
            wecom.expire_tokens()  # and the cached token stops working on the way
        for batch_id in batches:
            try:
                send_batch(db.session, batch_id, now, lambda name: channel_for(name, app))
            except RetryLater:
                pass
        now += timedelta(minutes=15)
    assert_exactly_once(wecom)


@pytest.mark.parametrize("path", ["send_batch", "job"])
def test_the_database_restarted_mid_send_sends_nothing_twice(app, wecom, path):
    """`job`: the worker's path, the batch lock on the session's own connection."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL server restart")
    batches = set_up(wecom, size=10)
    wecom.fail_next("add_msg_template", after_processing=True, delay=2)
    errors = []

    def sender():
        with app.app_context():
            try:
                if path == "job":
                    run_batches([batches[0]], TEN.isoformat())
                else:
                    send_batch(db.session, batches[0], TEN, lambda name: channel_for(name, app))
            except Exception as exc:  # the connection died under it
                errors.append(exc)
                db.session().invalidate()
            finally:
                db.session.remove()

    thread = threading.Thread(target=sender)
    thread.start()
    wait_for(lambda: len(wecom.messages) == 1)
    subprocess.run(["bash", str(ROOT / "tests/support/pg_cluster.sh"), "restart"], check=True)
    thread.join(60)
    assert errors, "the sender should have lost its database connection"
    db.session().invalidate()  # this test's own connection died with the server too
    db.session.remove()
    db.engine.dispose()
    for batch_id in batches:
        send_batch(db.session, batch_id, TEN + timedelta(minutes=1),
                   lambda name: channel_for(name, app))
    assert_exactly_once(wecom)


def test_a_send_job_over_its_timeout_in_the_non_forking_worker_sends_nothing_twice(app, wecom):
    """SendWorker runs jobs in its own process: the job timeout (SIGALRM) stops a job
    stuck on WeCom, its session and batch lock are let go, the worker goes on, and the
    batch, asked about first, ends exactly once."""
    batches = set_up(wecom)
    wecom.fail_next("add_msg_template", after_processing=True, delay=4)
    q = queue(app, SEND_QUEUE)
    stuck = q.enqueue(run_batches, batches, TEN.isoformat(), job_timeout=1)
    after = q.enqueue(run_batches, batches, TEN.isoformat())
    SendWorker([q], connection=redis_connection(app)).work(burst=True)
    assert stuck.get_status() == "failed" and "JobTimeoutException" in stuck.latest_result().exc_string
    assert after.get_status() == "finished"  # the same worker went on: lock and session free
    drain(app)
    assert_exactly_once(wecom)


def test_the_batch_lock_outlives_the_senders_commits_and_leaves_no_file(app, wecom):
    from jobs.tick_lock import batch_lock

    batch_id = set_up(wecom)[0]
    with app.app_context(), pinned_session(app) as session:
        with batch_lock(session, batch_id) as held:
            assert held
            for _ in range(3):
                session.execute(select(SendBatch.id)).all()
                session.commit()
            with batch_lock(db.session, batch_id) as other:  # another sender
                assert not other
        with batch_lock(db.session, batch_id) as other:
            assert other
    url = db.engine.url
    if url.get_backend_name() == "sqlite":  # one lock file per batch would pile up
        assert os.listdir(f"{os.path.abspath(url.database)}.batch-locks") == []
