"""The engine's REST endpoints (SPEC §8): customers, deliveries, SOPs and their moves.

Data comes in through the real services: a config-as-code import, events posted to
/api/v1/events, evaluator ticks. Times are Asia/Shanghai (+08:00); answers are UTC.
"""
from __future__ import annotations

from datetime import datetime

import pytest
from redis import Redis
from sqlalchemy import func, select

from jobs.evaluator import tick
from jobs.queues import TICK_QUEUE, queue, redis_connection
from models import ApiToken, AuditLog, Employee, Enrollment, Sop, db
from models.audit import acting_as
from config_io.importer import import_document
from tests.conftest import make_employee, make_user

DOC = {
    "settings": {"timezone": "Asia/Shanghai", "quota": {"limit": 1, "period": "day"}},
    "employees": [
        {"userid": "zhangsan", "name": "张三", "department": "华东销售"},
        {"userid": "lisi", "name": "李四", "department": "华北销售"},
        {"userid": "wangwu", "name": "王五", "department": "华东销售"},
    ],
    "tags": [{"name": "VIP"}, {"name": "已复购"}, {"name": "提前结束"}],
    "sops": [
        {"key": "care", "name": "培育", "kind": "nurture", "status": "running",
         "target": {"tags_any": ["VIP"]},
         "steps": [{"day": 0, "at": "11:00", "action": "message", "text": "你好"},
                   {"day": 3, "at": "10:00", "action": "message", "text": "回访"}]},
        {"key": "welcome", "name": "欢迎", "kind": "new_customer", "status": "running",
         "priority": 5, "target": {"sources": ["渠道活码"]},
         "steps": [{"day": 0, "at": "10:00", "action": "message", "text": "欢迎", "key": "hi"},
                   {"day": 1, "at": "10:00", "action": "message", "text": "说明"},
                   {"day": 2, "at": "09:00", "action": "task", "title": "打电话"}],
         "early_end": {"when": {"tags_any": ["已复购"]}, "add_tags": ["提前结束"],
                       "flow_to": "care"}},
        {"key": "complaint", "name": "投诉处理", "kind": "playbook", "status": "running",
         "steps": [{"day": 0, "at": "09:00", "action": "task", "title": "回电",
                    "assignee": "role:service"}]},
        {"key": "later", "name": "以后", "kind": "nurture", "status": "draft",
         "target": {"tags_any": ["VIP"]},
         "steps": [{"day": 0, "at": "10:00", "action": "message", "text": "嗨"}]},
    ],
    "journeys": [
        {"key": "value", "name": "价值", "enabled": True,
         "stages": [{"key": "vip", "name": "VIP", "rules": [{"tags_any": ["VIP"]}]}]},
    ],
}
ADDED = "2025-03-01T09:00:00+08:00"
TICKED = "2025-03-01T09:05:00+08:00"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def bearer(username: str, role: str, employee: str | None = None) -> dict:
    emp = db.session.scalar(select(Employee).where(Employee.userid == employee)) \
        if employee else None
    user = make_user(username, role, emp)
    with acting_as("test"):
        row, plain = ApiToken.issue(user)
        db.session.add(row)
        db.session.commit()
    return {"Authorization": f"Bearer {plain}"}


@pytest.fixture(autouse=True)
def empty_tick_queue(app):
    """Starts, resumes and re-adds enqueue ticks: leave none for a later test's worker."""
    yield
    queue(app, TICK_QUEUE).empty()


@pytest.fixture
def world(client):
    """Three customers of 渠道活码 added on 03-01 09:00 (c3 a VIP) and ticked at 09:05."""
    with acting_as("test"):
        assert import_document(db.session, DOC, at("2025-03-01T08:00:00+08:00")) == []
    db.session.commit()
    tick(db.session, at("2025-03-01T08:01:00+08:00"))  # the started SOPs' first evaluation
    ops = bearer("ops", "ops")
    events = [
        {"type": "customer_added", "external_id": "c1", "name": "王女士", "owner": "zhangsan",
         "source": "渠道活码", "annual_value": 600000, "phone": "138", "at": ADDED},
        {"type": "customer_added", "external_id": "c2", "name": "李先生", "owner": "lisi",
         "source": "渠道活码", "at": ADDED},
        {"type": "customer_added", "external_id": "c3", "name": "赵女士", "owner": "wangwu",
         "source": "渠道活码", "tags": ["VIP"], "at": ADDED},
    ]
    assert client.post("/api/v1/events", json=events, headers=ops).status_code == 200
    tick(db.session, at(TICKED))
    return {"ops": ops, "client": client}


def call(world, method, url, headers=None, **kwargs):
    return world["client"].open(url, method=method, headers=headers or world["ops"], **kwargs)


def sop_row(key: str) -> Sop:
    db.session.expire_all()
    return db.session.scalar(select(Sop).where(Sop.key == key))


# --- customers --------------------------------------------------------------------
def test_a_customer_with_its_enrollments_and_journey_stage(world):
    resp = call(world, "GET", "/api/v1/customers/c3")
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert set(body) == {
        "external_id", "name", "customer_type", "industry", "phone", "address", "source",
        "owner", "added_at", "lifecycle_stage", "churn_status", "tier", "annual_value",
        "review_status", "last_interaction_at", "last_purchase_at", "tags", "enrollments",
        "journeys"}
    assert {k: body[k] for k in ("external_id", "name", "owner", "source", "customer_type",
                                 "churn_status", "tier", "annual_value", "review_status")} == {
        "external_id": "c3", "name": "赵女士", "owner": "wangwu", "source": "渠道活码",
        "customer_type": "individual", "churn_status": "normal", "tier": "normal",
        "annual_value": "0.00", "review_status": "pending"}
    assert body["added_at"] == body["last_interaction_at"] == "2025-03-01T01:00:00+00:00"
    assert body["last_purchase_at"] is None
    assert body["tags"] == ["VIP"]
    # same time: in order of entry, and the higher-priority SOP is evaluated first
    assert body["enrollments"] == [
        {"sop": key, "status": "active", "flowed_from": None,
         "enrolled_at": "2025-03-01T01:05:00+00:00", "ended_at": None, "end_reason": None,
         "flow_result": None} for key in ("welcome", "care")]
    assert body["journeys"] == [{"journey": "value", "stage": "vip",
                                 "entered_at": "2025-03-01T01:05:00+00:00"}]


def test_an_early_end_shows_its_reason_and_the_flow(world):
    tagged = {"type": "tag_added", "external_id": "c1", "tags": ["已复购"],
              "at": "2025-03-01T12:00:00+08:00"}
    assert call(world, "POST", "/api/v1/events", json=tagged).status_code == 200
    tick(db.session, at("2025-03-01T12:01:00+08:00"))
    body = call(world, "GET", "/api/v1/customers/c1").json
    assert body["tags"] == sorted(["提前结束", "已复购"])
    by_sop = {e["sop"]: e for e in body["enrollments"]}
    assert by_sop["welcome"]["status"] == "ended_early"
    assert by_sop["welcome"]["ended_at"] == "2025-03-01T04:01:00+00:00"
    assert by_sop["welcome"]["end_reason"] == "early end rule"
    assert by_sop["welcome"]["flow_result"] == "entered care"
    assert by_sop["care"] | {"enrolled_at": None} == {
        "sop": "care", "status": "active", "flowed_from": "welcome", "enrolled_at": None,
        "ended_at": None, "end_reason": None, "flow_result": None}
    cancelled = call(world, "GET", "/api/v1/deliveries?customer=c1&status=cancelled").json
    assert [(d["sop"], d["step"], d["reason"]) for d in cancelled] == [
        ("welcome", 0, "early end rule")]


def test_customer_rows_follow_the_role(world):
    east = db.session.scalar(select(Employee).where(Employee.userid == "zhangsan"))
    boss = make_employee("boss", department=east.department.name, role="manager")
    db.session.commit()
    sales, manager = bearer("zs", "sales", "zhangsan"), bearer("mgr", "manager", boss.userid)
    unlinked, service, finance = (bearer(f"u-{r}", r) for r in ("sales", "service", "finance"))

    def status(url, headers):
        return call(world, "GET", url, headers).status_code

    assert [status(f"/api/v1/customers/{c}", sales) for c in ("c1", "c2", "c3")] == [
        200, 404, 404]
    assert [status(f"/api/v1/customers/{c}", manager) for c in ("c1", "c2", "c3")] == [
        200, 404, 200]
    assert status("/api/v1/customers/c1", unlinked) == 404
    assert status("/api/v1/customers/c2", finance) == 200
    seen_by_service = call(world, "GET", "/api/v1/customers/c1", service).json
    assert seen_by_service["phone"] == "138"
    assert (seen_by_service["annual_value"], seen_by_service["tier"]) == (None, None)
    assert call(world, "GET", "/api/v1/customers/c1").json["annual_value"] == "600000.00"
    missing = call(world, "GET", "/api/v1/customers/nope")
    assert (missing.status_code, missing.json["error"]) == (404, "not_found")
    # a customer outside the scope looks exactly like a missing one
    hidden = call(world, "GET", "/api/v1/customers/c2", sales)
    assert hidden.json["detail"] == "customer: no customer 'c2'"
    deliveries = call(world, "GET", "/api/v1/deliveries", sales).json
    assert {d["customer"] for d in deliveries} == {"c1"}
    assert call(world, "GET", "/api/v1/deliveries?customer=c2", sales).status_code == 404
    assert {d["customer"] for d in call(world, "GET", "/api/v1/deliveries", manager).json} == {
        "c1", "c3"}


def test_without_a_token_nothing_is_answered(world):
    client = world["client"]
    for url in ("/api/v1/customers/c1", "/api/v1/deliveries", "/api/v1/sops"):
        resp = client.get(url)
        assert resp.status_code == 401 and resp.json["error"] == "unauthorized"
    assert client.post("/api/v1/sops/care/pause").status_code == 401
    assert sop_row("care").status == "running"


# --- deliveries -------------------------------------------------------------------
def test_deliveries_are_listed_by_due_time_with_keys_and_senders(world):
    rows = call(world, "GET", "/api/v1/deliveries?sop=welcome").json
    assert [(d["customer"], d["sender"]) for d in rows] == [
        ("c1", "zhangsan"), ("c2", "lisi"), ("c3", "wangwu")]
    first = rows[0]
    assert first == {"id": first["id"], "sop": "welcome", "journey": None, "group_send": None,
                     "stage": None,
                     "step": 0, "step_key": "hi", "action": "message", "customer": "c1",
                     "sender": "zhangsan", "due_at": "2025-03-01T02:00:00+00:00",
                     "status": "pending", "sent_at": None, "reason": None,
                     "variant": None}
    everything = call(world, "GET", "/api/v1/deliveries").json
    # care's 11:00 message for c3 lost the day's one send to welcome's earlier 10:00
    # (same priority): deferred to the same time the next day
    assert [(d["sop"], d["due_at"], d["status"]) for d in everything] == [
        ("welcome", "2025-03-01T02:00:00+00:00", "pending")] * 3 + [
        ("care", "2025-03-02T03:00:00+00:00", "deferred")]
    assert everything[3]["reason"] == "quota: 1 per day reached"
    assert [d["id"] for d in everything[:3]] == sorted(d["id"] for d in everything[:3])
    page = call(world, "GET", "/api/v1/deliveries?limit=2&offset=1").json
    assert [d["id"] for d in page] == [d["id"] for d in everything[1:3]]
    assert call(world, "GET", "/api/v1/deliveries?status=sent").json == []
    assert len(call(world, "GET", "/api/v1/deliveries?customer=c3").json) == 2


@pytest.mark.parametrize("query, status, named", [
    ("status=done", 400, "status"), ("sop=nope", 404, "sop"), ("customer=nope", 404, "customer"),
    ("limit=0", 400, "limit"), ("limit=1001", 400, "limit"), ("limit=x", 400, "limit"),
    ("offset=-1", 400, "offset"),
])
def test_bad_delivery_filters_name_the_parameter(world, query, status, named):
    resp = call(world, "GET", f"/api/v1/deliveries?{query}")
    assert resp.status_code == status
    assert resp.json["detail"].startswith(f"{named}:"), resp.json


# --- SOPs ---------------------------------------------------------------------------
def test_sops_list_with_status_and_enrollment_counts(world):
    listed = call(world, "GET", "/api/v1/sops").json  # by priority, then key
    assert [s["key"] for s in listed] == ["welcome", "care", "complaint", "later"]
    by_key = {s["key"]: s for s in listed}
    assert by_key["welcome"]["enrollments"] == {"active": 3, "ended_early": 0, "completed": 0,
                                                "ended_manual": 0}
    assert by_key["care"]["enrollments"]["active"] == 1
    assert by_key["welcome"] | {"enrollments": None} == {
        "key": "welcome", "name": "欢迎", "kind": "new_customer", "status": "running",
        "priority": 5, "version": 1, "started_at": "2025-03-01T00:00:00+00:00",
        "initialized_at": "2025-03-01T00:01:00+00:00", "ended_at": None, "init_progress": 100,
        "enrollments": None}
    assert by_key["later"]["status"] == "draft" and by_key["later"]["started_at"] is None


def test_one_sop_as_config_with_its_status(world):
    body = call(world, "GET", "/api/v1/sops/welcome").json
    assert body["target"] == {"sources": ["渠道活码"]}
    assert [s["day"] for s in body["steps"]] == [0, 1, 2]
    assert body["early_end"]["flow_to"] == "care"
    assert (body["status"], body["init_progress"], body["enrollments"]["active"]) == (
        "running", 100, 3)
    missing = call(world, "GET", "/api/v1/sops/nope")
    assert (missing.status_code, missing.json["error"]) == (404, "not_found")
    assert call(world, "GET", "/api/v1/sops", bearer("zs", "sales", "zhangsan")).status_code == 403


def test_pause_resume_and_end_with_illegal_moves_refused(world):
    paused = call(world, "POST", "/api/v1/sops/care/pause")
    assert (paused.status_code, paused.json["status"]) == (200, "paused")
    again = call(world, "POST", "/api/v1/sops/care/pause")
    assert again.status_code == 409
    assert again.json == {"error": "conflict",
                          "detail": "SOP care is paused; only a running SOP can pause"}
    assert call(world, "POST", "/api/v1/sops/care/resume").json["status"] == "running"
    assert call(world, "POST", "/api/v1/sops/care/start").status_code == 409
    ended = call(world, "POST", "/api/v1/sops/care/end",
                 json={"at": "2025-03-02T09:00:00+08:00"})
    assert (ended.status_code, ended.json["status"], ended.json["ended_at"]) == (
        200, "ended", "2025-03-02T01:00:00+00:00")
    assert ended.json["enrollments"] == {"active": 0, "ended_early": 0, "completed": 0,
                                         "ended_manual": 1}
    for move in ("start", "pause", "resume", "end"):
        assert call(world, "POST", f"/api/v1/sops/care/{move}").status_code == 409
    assert call(world, "POST", "/api/v1/sops/nope/pause").status_code == 404


def test_moves_need_ops_and_bad_input_changes_nothing(world):
    others = [bearer(f"u-{role}", role) for role in ("sales", "manager", "service", "finance")]
    audited = db.session.scalar(select(func.count()).select_from(AuditLog))
    for headers in others:
        resp = call(world, "POST", "/api/v1/sops/care/pause", headers)
        assert (resp.status_code, resp.json["error"]) == (403, "forbidden")
    for body in ({"at": "yesterday"}, {"at": "2025-03-02T09:00:00"}, {"when": "now"}, [1]):
        resp = call(world, "POST", "/api/v1/sops/care/pause", json=body)
        assert resp.status_code == 400, body
    bad = call(world, "POST", "/api/v1/sops/care/pause", json={"at": "yesterday"})
    assert bad.json["detail"].startswith("at:")
    assert sop_row("care").status == "running"
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == audited


def test_starting_queues_a_tick_and_survives_redis_being_away(app, world):
    tick_queue = queue(app, TICK_QUEUE)
    tick_queue.empty()
    resp = call(world, "POST", "/api/v1/sops/later/start",
                json={"at": "2025-03-01T10:00:00+08:00"})
    assert (resp.status_code, resp.json["status"]) == (200, "initializing")
    assert resp.json["started_at"] == "2025-03-01T02:00:00+00:00"
    assert tick_queue.count == 1
    tick_queue.empty()
    call(world, "POST", "/api/v1/sops/later/pause")
    real = redis_connection(app)
    app.extensions["sop_redis"] = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    try:
        resumed = call(world, "POST", "/api/v1/sops/later/resume")
    finally:
        app.extensions["sop_redis"] = real
    assert (resumed.status_code, resumed.json["status"]) == (200, "initializing")
    assert sop_row("later").status == "initializing"
    tick(db.session, at("2025-03-01T10:01:00+08:00"))
    assert sop_row("later").status == "running"
    assert call(world, "GET", "/api/v1/customers/c3").json["enrollments"][-1]["sop"] == "later"


# --- one customer by hand -----------------------------------------------------------
def test_manual_end_with_tags_then_re_add(world):
    url = "/api/v1/sops/care/customers/c3"
    ended = call(world, "POST", f"{url}/end",
                 json={"add_tags": ["手动结束"], "at": "2025-03-02T09:00:00+08:00"})
    assert ended.status_code == 200, ended.json
    assert ended.json | {"enrolled_at": None} == {
        "sop": "care", "status": "ended_manual", "flowed_from": None, "enrolled_at": None,
        "ended_at": "2025-03-02T01:00:00+00:00", "end_reason": "ended by hand",
        "flow_result": None}
    assert "手动结束" in call(world, "GET", "/api/v1/customers/c3").json["tags"]
    again = call(world, "POST", f"{url}/end")
    assert again.status_code == 409 and "ended_manual" in again.json["detail"]
    readded = call(world, "POST", f"{url}/enroll", json={"at": "2025-03-03T09:00:00+08:00"})
    assert readded.status_code == 200, readded.json
    assert (readded.json["status"], readded.json["enrolled_at"]) == (
        "active", "2025-03-03T01:00:00+00:00")
    assert db.session.scalar(select(Enrollment.round).join(Sop, Sop.id == Enrollment.sop_id)
                             .where(Sop.key == "care")) == 2
    assert call(world, "POST", f"{url}/enroll").status_code == 409


def test_manual_end_refuses_what_it_cannot_do(world):
    def end(customer, body=None, sop="care"):
        return call(world, "POST", f"/api/v1/sops/{sop}/customers/{customer}/end", json=body)

    assert end("c2").status_code == 404  # not in care
    assert "no enrollment" in end("c2").json["detail"]
    assert end("nope").status_code == 404
    assert end("c3", sop="nope").status_code == 404
    assert end("c3", {"flow_to": "nope"}).json["detail"].startswith("flow_to:")
    assert end("c3", {"add_tags": "VIP"}).json["detail"].startswith("add_tags:")
    assert end("c3", {"add_tags": ["x" * 101]}).status_code == 400
    into_playbook = end("c1", {"flow_to": "complaint"}, sop="welcome")
    assert into_playbook.status_code == 409
    assert "nurture" in into_playbook.json["detail"]
    states = db.session.scalars(select(Enrollment.status)).all()
    assert set(states) == {"active"}  # nothing ended by any of these


def test_flow_into_a_nurture_sop_on_manual_end(world):
    resp = call(world, "POST", "/api/v1/sops/welcome/customers/c1/end",
                json={"flow_to": "care"})
    assert resp.json["flow_result"] == "entered care"
    care = {e["sop"]: e for e in call(world, "GET", "/api/v1/customers/c1").json["enrollments"]}
    assert care["care"]["flowed_from"] == "welcome"


def test_a_playbook_starts_by_hand_for_one_customer(world):
    resp = call(world, "POST", "/api/v1/sops/complaint/customers/c2/enroll",
                json={"at": "2025-03-01T09:30:00+08:00"})
    assert (resp.status_code, resp.json["sop"], resp.json["status"]) == (
        200, "complaint", "active")
    tick(db.session, at("2025-03-01T09:31:00+08:00"))
    (task,) = call(world, "GET", "/api/v1/deliveries?sop=complaint").json
    # 09:00 was already past at 09:30: due at once, i.e. at enrollment
    assert (task["action"], task["customer"], task["status"], task["due_at"]) == (
        "task", "c2", "queued", "2025-03-01T01:30:00+00:00")
    draft = call(world, "POST", "/api/v1/sops/later/customers/c2/enroll")
    assert draft.status_code == 409 and "draft" in draft.json["detail"]


# --- preview ------------------------------------------------------------------------
def test_preview_over_the_api(world):
    resp = call(world, "GET", "/api/v1/sops/later/preview?days=3&at=2025-03-01T12:00:00%2B08:00")
    assert resp.status_code == 200, resp.json
    assert resp.json == {
        "sop": "later", "at": "2025-03-01T04:00:00+00:00", "days": 3,
        "would_enter": 1, "sample": ["c3"],
        # 10:00 was past at 12:00: due at once, today
        "calendar": [{"date": "2025-03-01", "messages": 1, "tasks": 0, "deferred_by_quota": 0},
                     {"date": "2025-03-02", "messages": 0, "tasks": 0, "deferred_by_quota": 0},
                     {"date": "2025-03-03", "messages": 0, "tasks": 0, "deferred_by_quota": 0}]}
    assert len(call(world, "GET", "/api/v1/sops/later/preview").json["calendar"]) == 30
    manager = bearer("mgr", "manager")  # it lists customers of every department
    assert call(world, "GET", "/api/v1/sops/later/preview", manager).status_code == 403


@pytest.mark.parametrize("query", ["days=0", "days=91", "days=x", "at=noon"])
def test_preview_refuses_bad_days_and_times(world, query):
    resp = call(world, "GET", f"/api/v1/sops/later/preview?{query}")
    assert resp.status_code == 400
    assert resp.json["detail"].startswith(query.split("=")[0] + ":")
