"""/healthz, /readyz and the readiness service; /metrics and who may read it (SPEC §10)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from redis import Redis

from jobs.health import LAST_TICK_KEY, readiness, record_tick
from jobs.maintenance import HEARTBEAT_KEY
from jobs.queues import SEND_QUEUE, queue, redis_connection
from models import ChangeJournal, Customer, db
from models.audit import acting_as

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def conn(app):
    redis = redis_connection(app)
    redis.delete(HEARTBEAT_KEY, LAST_TICK_KEY)
    for name in ("send", "tick", "maintenance"):
        queue(app, name).empty()
    yield redis
    redis.delete(HEARTBEAT_KEY, LAST_TICK_KEY)


def alive(redis, heartbeat_age: int, tick_age: int, now=NOW) -> None:
    redis.set(HEARTBEAT_KEY, (now - timedelta(seconds=heartbeat_age)).isoformat())
    record_tick(redis, now - timedelta(seconds=tick_age), seconds=0.5, rounds=2)


def test_ready_when_database_redis_heartbeat_and_tick_are_fresh(conn):
    alive(conn, heartbeat_age=30, tick_age=50)
    report = readiness(db.session, conn, NOW)
    assert report["ok"] is True
    checks = report["checks"]
    assert {name for name, c in checks.items() if c["ok"]} == {
        "database", "redis", "heartbeat", "tick", "journal", "queues"}
    assert checks["heartbeat"]["age_seconds"] == 30
    assert checks["tick"]["age_seconds"] == 50


@pytest.mark.parametrize("heartbeat_age, tick_age, failing", [
    (121, 10, "heartbeat"), (10, 181, "tick"), (None, 10, "heartbeat"), (10, None, "tick")])
def test_not_ready_when_the_heartbeat_or_the_tick_is_stale_or_missing(
        conn, heartbeat_age, tick_age, failing):
    alive(conn, heartbeat_age or 0, tick_age or 0)
    if heartbeat_age is None:
        conn.delete(HEARTBEAT_KEY)
    if tick_age is None:
        conn.delete(LAST_TICK_KEY)
    report = readiness(db.session, conn, NOW)
    assert report["ok"] is False
    assert [name for name, c in report["checks"].items() if not c["ok"]] == [failing]


def test_not_ready_when_redis_is_unreachable(conn):
    down = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    report = readiness(db.session, down, NOW)
    assert report["ok"] is False
    assert report["checks"]["redis"] == {"ok": False, "error": "ConnectionError"}
    assert report["checks"]["database"]["ok"] is True
    assert "127.0.0.1" not in json.dumps(report)  # no address, no URL, no message text


def test_journal_lag_and_queue_depth_are_reported_without_deciding(conn, app):
    alive(conn, 5, 5)
    with acting_as("test"):
        customer = Customer(external_id="c1", name="c1")
        db.session.add(customer)
        db.session.flush()
        db.session.add_all([
            ChangeJournal(customer_id=customer.id, kind="added", source="event",
                          at=NOW - timedelta(minutes=30)),
            ChangeJournal(customer_id=customer.id, kind="tags", source="event",
                          at=NOW - timedelta(minutes=5)),
            ChangeJournal(customer_id=customer.id, kind="tags", source="event",
                          at=NOW - timedelta(hours=5), processed_at=NOW)])
        db.session.commit()
    queue(app, SEND_QUEUE).enqueue("jobs.maintenance.heartbeat")
    report = readiness(db.session, conn, NOW)
    journal = report["checks"]["journal"]
    assert journal["unprocessed"] >= 2  # the event path may journal the add as well
    assert journal["oldest_age_seconds"] == 1800
    queues = report["checks"]["queues"]
    assert queues["send"]["depth"] == 1 and queues["tick"]["depth"] == 0
    assert queues["send"]["oldest_age_seconds"] is not None
    assert report["ok"] is True


def test_healthz_answers_without_login_or_database(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json == {"ok": True}


def test_readyz_is_503_when_stale_and_200_when_fresh(client, conn):
    now = datetime.now(timezone.utc)
    alive(conn, heartbeat_age=600, tick_age=10, now=now)
    stale = client.get("/readyz")
    assert stale.status_code == 503
    assert stale.json["checks"]["heartbeat"]["ok"] is False
    alive(conn, heartbeat_age=10, tick_age=10, now=now)
    fresh = client.get("/readyz")
    assert fresh.status_code == 200 and fresh.json["ok"] is True
    assert set(fresh.json["checks"]) == {"database", "redis", "heartbeat", "tick", "journal",
                                          "queues"}


def test_readyz_is_503_when_redis_is_down(app, client, conn):
    real = app.extensions["sop_redis"]
    app.extensions["sop_redis"] = Redis.from_url("redis://127.0.0.1:1/0",
                                                 socket_connect_timeout=0.5)
    try:
        resp = client.get("/readyz")
    finally:
        app.extensions["sop_redis"] = real
    assert resp.status_code == 503
    assert resp.json["checks"]["redis"]["ok"] is False


# --- /metrics ---------------------------------------------------------------------------
FAMILIES = ("sop_tick_duration_seconds", "sop_tick_rounds", "sop_sends_total",
            "sop_wecom_errors_total", "sop_journal_unprocessed",
            "sop_journal_oldest_age_seconds", "sop_deliveries", "sop_deliveries_held",
            "sop_tasks_overdue", "sop_queue_depth", "sop_queue_oldest_age_seconds")


def test_metrics_from_loopback_has_every_family(client, conn):
    from jobs import metrics

    metrics.observe_tick(1.5, 2)
    metrics.count_sends("wecom", 3)
    metrics.count_wecom_error(45009)
    resp = client.get("/metrics")  # the test client comes from 127.0.0.1
    assert resp.status_code == 200
    assert resp.content_type.startswith("text/plain")
    text = resp.get_data(as_text=True)
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert set(FAMILIES) - {"sop_sends_total", "sop_wecom_errors_total"} <= names
    assert 'sop_sends_total{channel="wecom"}' in text
    assert 'sop_wecom_errors_total{errcode="45009"}' in text
    assert 'sop_deliveries{status="pending"} 0.0' in text
    assert 'sop_queue_depth{queue="send"} 0.0' in text


def test_metrics_refused_from_elsewhere_without_the_token(app, client, conn):
    elsewhere = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", environ_base=elsewhere).status_code == 403
    # behind a proxy on this host the address is loopback, but it is not let in by it
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
    app.config["METRICS_TOKEN"] = "s3cret-token"
    try:
        wrong = client.get("/metrics", environ_base=elsewhere,
                           headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        right = client.get("/metrics", environ_base=elsewhere,
                           headers={"Authorization": "Bearer s3cret-token"})
        assert right.status_code == 200 and "sop_queue_depth" in right.get_data(as_text=True)
    finally:
        app.config["METRICS_TOKEN"] = None


def test_metrics_allow_list_takes_networks(app, client, conn):
    app.config["METRICS_ALLOW"] = "10.0.0.0/8"
    try:
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
        assert client.get("/metrics").status_code == 403  # loopback no longer listed
    finally:
        app.config["METRICS_ALLOW"] = "127.0.0.1,::1"


def test_a_finished_tick_is_recorded_for_readyz_and_metrics(app, conn):
    from jobs.engine_jobs import run_tick

    summary = run_tick(NOW.isoformat())
    assert summary["rounds"] >= 1
    stored = json.loads(conn.get(LAST_TICK_KEY))
    assert stored["rounds"] == summary["rounds"]
    age = datetime.now(timezone.utc) - datetime.fromisoformat(stored["at"])
    assert age < timedelta(minutes=5)  # the wall clock, not the replayed `at`


def test_the_sample_dashboard_only_uses_metrics_the_app_exports():
    from pathlib import Path
    import re

    doc = json.loads((Path(__file__).parents[1] / "deploy" / "grafana-dashboard.json").read_text())
    used = {name for panel in doc["panels"] for target in panel["targets"]
            for name in re.findall(r"\bsop_[a-z_]+", target["expr"])}
    exported = set(FAMILIES) | {f + "_bucket" for f in FAMILIES}
    assert used and used <= exported
