"""The group-send endpoints (SPEC §10): create with its preview, idempotent by key,
validation with nothing written, the manager's department, counts per status and the
deliveries filter."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from jobs.queues import TICK_QUEUE, queue
from models import AuditLog, Delivery, GroupSend, Material, QuotaLedger, db
from models.audit import acting_as
from tests.engine_support import added, doc, events, load, local, run_tick, send
from tests.test_api_engine import bearer

MATERIAL = {"key": "poster", "kind": "link", "title": "海报", "url": "https://example.com/p"}


@pytest.fixture(autouse=True)
def empty_tick_queue(app):
    yield
    queue(app, TICK_QUEUE).empty()


@pytest.fixture
def world(client):
    document = doc(settings={"quota": {"limit": 1, "period": "day"}})
    document["materials"] = [MATERIAL]
    load(document, local(2025, 3, 1, 8))
    events(added("z1", tags=["VIP"]), added("z2", tags=["VIP"]),
           added("l1", owner="lisi", tags=["VIP"]), added("x", tags=["无关"]),
           now=local(2025, 3, 1, 9))
    return client


def post(client, headers, **fields):
    body = {"key": "d12", "text": "双十二会员专享", "attachments": ["poster"],
            "target": {"tags_any": ["VIP"]}, "at": "2025-03-01T10:00:00+08:00",
            "priority": 3, "batch": {"size": 100, "interval_minutes": 5}, **fields}
    return client.post("/api/v1/group_sends", json=body, headers=headers)


def counts() -> tuple[int, int, int]:
    return (db.session.scalar(select(func.count(GroupSend.id))),
            db.session.scalar(select(func.count(Delivery.id))),
            db.session.scalar(select(func.count(AuditLog.id))))


def test_create_answers_the_preview_and_a_second_post_changes_nothing(world):
    ops = bearer("ops", "ops")
    first = post(world, ops)
    assert first.status_code == 201, first.json
    body = first.json
    assert {k: body[k] for k in ("key", "matched", "today", "deferred", "no_owner")} == {
        "key": "d12", "matched": 3, "today": 3, "deferred": 0, "no_owner": 0}
    assert isinstance(body["id"], int)
    before = counts()
    again = post(world, ops, text="改过的文字", target={"tags_any": ["无关"]})
    assert (again.status_code, again.json) == (201, body)
    assert counts() == before
    stored = db.session.scalar(select(GroupSend))
    assert stored.text == "双十二会员专享" and [m.key for m in stored.attachments] == ["poster"]
    assert stored.created_by == "api:ops"


def test_bad_bodies_are_422_listing_each_problem_and_write_nothing(world):
    ops = bearer("ops", "ops")
    before = counts()
    resp = post(world, ops, key="bad key!", text="", attachments=["poster", "nope"] + ["poster"] * 8,
                target={"tags_any": ["不存在"], "colour": "red"}, at="tomorrow", priority="high",
                batch={"size": 0})
    assert resp.status_code == 422
    assert resp.json["error"] == "invalid_group_send"
    fields = {p["field"] for p in resp.json["detail"]}
    assert {"key", "text", "attachments", "attachments[1]", "target.tags_any[0]",
            "target.colour", "at", "priority", "batch.size"} <= fields
    assert counts() == before
    assert world.post("/api/v1/group_sends", data="[]", headers=ops,
                      content_type="application/json").status_code == 400
    assert counts() == before


def test_a_manager_reaches_only_the_customers_of_their_department(world):
    manager = bearer("boss", "manager", employee="zhangsan")  # 华东销售: z1, z2
    resp = post(world, manager)
    assert resp.status_code == 201, resp.json
    assert resp.json["matched"] == 2
    customers = db.session.scalars(select(Delivery.customer_id)).all()
    assert len(customers) == 2
    sales = bearer("li", "sales", employee="lisi")
    assert post(world, sales, key="other").status_code == 403


def test_counts_per_status_and_the_deliveries_filter(world):
    ops = bearer("ops", "ops")
    assert post(world, ops).status_code == 201
    run_tick(local(2025, 3, 1, 9, 30))
    send(local(2025, 3, 1, 10))
    got = world.get("/api/v1/group_sends/d12", headers=ops)
    assert got.status_code == 200
    assert got.json["deliveries"]["queued"] == 3 and got.json["deliveries"]["pending"] == 0
    rows = world.get("/api/v1/deliveries?group_send=d12", headers=ops).json
    assert sorted(r["customer"] for r in rows) == ["l1", "z1", "z2"]
    assert {(r["group_send"], r["sop"], r["status"]) for r in rows} == {("d12", None, "queued")}
    manager = bearer("boss", "manager", employee="lisi")
    scoped = world.get("/api/v1/group_sends/d12", headers=manager).json
    assert scoped["deliveries"]["queued"] == 1
    assert world.get("/api/v1/group_sends/nope", headers=ops).status_code == 404
    assert world.get("/api/v1/deliveries?group_send=nope", headers=ops).status_code == 404


def test_an_attachment_reaches_the_inbox_task_text_unchanged(world):
    ops = bearer("ops", "ops")
    assert post(world, ops, attachments=[]).status_code == 201
    with acting_as("test"):
        db.session.scalar(select(Material).where(Material.key == "poster")).title = "新海报"
        db.session.commit()
    run_tick(local(2025, 3, 1, 9, 30))
    send(local(2025, 3, 1, 10))
    assert {d.text for d in db.session.scalars(select(Delivery))} == {"双十二会员专享"}


def test_cancel_stops_what_has_not_gone_out_and_gives_the_quota_back(world):
    ops = bearer("ops", "ops")
    assert post(world, ops, at="2025-03-01T09:10:00+08:00",
                batch={"size": 1, "interval_minutes": 30}).status_code == 201
    run_tick(local(2025, 3, 1, 9, 11))
    send(local(2025, 3, 1, 9, 12))  # each sender's first batch of one: zhangsan's second waits
    manager = bearer("boss", "manager", employee="zhangsan")
    assert world.post("/api/v1/group_sends/d12/cancel", headers=manager).status_code == 403
    resp = world.post("/api/v1/group_sends/d12/cancel", headers=ops,
                      json={"at": "2025-03-01T09:13:00+08:00"})
    assert resp.status_code == 200 and resp.json["status"] == "cancelled"
    assert resp.json["cancelled"] == 1
    again = world.post("/api/v1/group_sends/d12/cancel", headers=ops).json
    assert again["cancelled"] == 0
    counts = world.get("/api/v1/group_sends/d12", headers=ops).json["deliveries"]
    assert (counts["queued"], counts["cancelled"]) == (2, 1)
    assert db.session.scalar(select(func.sum(QuotaLedger.used))) == 2
    run_tick(local(2025, 3, 1, 9, 14))
    assert send(local(2025, 3, 1, 9, 15))["deliveries"] == 0
