"""The CRM over the API (SPEC §6, §8): follow-ups as events, requests, review decisions,
escalation visible on GET /tasks. Bad input answers 4xx JSON and changes nothing."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from jobs.evaluator import tick
from models import Customer, Employee, FollowUp, Task, db
from tests.engine_support import added, doc, events, load, local
from tests.test_api_tasks import bearer

T0 = local(2025, 3, 6, 11)  # a Thursday


@pytest.fixture
def world(client):
    document = doc()
    document["employees"].append({"userid": "zhao", "name": "赵经理", "department": "华东销售",
                                  "role": "manager"})
    load(document, local(2025, 1, 1))
    events(added("mine"), added("theirs", owner="lisi"), now=T0)
    tick(db.session, T0)
    staff = {e.userid: e for e in db.session.scalars(select(Employee))}
    return {"client": client, "ops": bearer("ops", "ops"),
            "zs": bearer("zs", "sales", staff["zhangsan"]),
            "mgr": bearer("mgr", "manager", staff["zhao"])}


def post(world, url, who, body):
    return world["client"].post(url, headers=world[who], json=body)


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_follow_up_is_an_event(world):
    """Posted by an integration (the events endpoint takes an ops token), for the owner."""
    resp = post(world, "/api/v1/events", "ops", {
        "type": "followup_logged", "external_id": "mine", "method": "visit",
        "key_points": "上门演示", "outcome": "nurture", "next_date": "2025-03-20",
        "collab_department": "客服中心", "at": (T0 + timedelta(days=1)).isoformat()})
    assert resp.status_code == 200, resp.json
    assert resp.json == {"accepted": 1, "duplicates": 0}
    record = db.session.scalar(select(FollowUp))
    assert (record.method, record.outcome, record.employee.userid,
            record.collab_department.name) == ("visit", "nurture", "zhangsan", "客服中心")
    assert db.session.scalar(select(Customer).where(Customer.external_id == "mine")) \
        .next_followup_at == local(2025, 3, 20, 9)


@pytest.mark.parametrize("fields, named", [
    ({"method": "fax"}, "method"),
    ({"outcome": "lost"}, "lost_reason"),
    ({"next_date": "20.3.2025"}, "next_date"),
    ({"collab_department": "没有这个部门"}, "collab_department"),
    ({"employee": "nobody"}, "employee"),
])
def test_a_bad_follow_up_names_its_field_and_writes_nothing(world, fields, named):
    body = {"type": "followup_logged", "external_id": "mine", "method": "phone",
            "key_points": "电话", **fields}
    resp = post(world, "/api/v1/events", "ops", body)
    assert resp.status_code == 422
    assert [p["field"] for p in resp.json["detail"]] == [named]
    assert count(FollowUp) == 0


def test_a_request_gets_its_deadline_and_bad_ones_change_nothing(world):
    before = count(Task)
    for body, status in [({"customer": "theirs", "assignee": "wangwu", "title": "x"}, 404),
                         ({"customer": "mine", "assignee": "nobody", "title": "x"}, 400),
                         ({"customer": "mine", "assignee": "wangwu", "title": " "}, 400),
                         ({"customer": "mine", "assignee": "wangwu", "title": "x", "y": 1}, 400)]:
        assert post(world, "/api/v1/requests", "zs", body).status_code == status
    assert count(Task) == before
    resp = post(world, "/api/v1/requests", "zs", {
        "customer": "mine", "assignee": "wangwu", "title": "补开发票", "at": T0.isoformat()})
    assert resp.status_code == 201
    assert datetime.fromisoformat(resp.json["deadline_at"]) == T0 + timedelta(hours=24)
    tick(db.session, T0 + timedelta(hours=25))
    listed = world["client"].get("/api/v1/tasks?employee=wangwu",
                                 headers=world["ops"]).json
    [request] = [t for t in listed if t["kind"] == "request"]
    assert datetime.fromisoformat(request["escalated_at"]) == T0 + timedelta(hours=25)


def test_review_decisions(world):
    url = "/api/v1/customers/mine/review"
    assert post(world, url, "zs", {"decision": "approve"}).status_code == 403
    resp = post(world, url, "mgr", {"decision": "reject"})
    assert resp.status_code == 400 and resp.json["error"] == "invalid_parameter"
    assert post(world, url, "mgr", {"decision": "maybe"}).status_code == 400
    resp = post(world, url, "mgr", {"decision": "reject", "reason": "资料不全"})
    assert resp.json == {"customer": "mine", "review_status": "rejected", "reason": "资料不全"}
    assert post(world, url, "mgr", {"decision": "approve"}).status_code == 409
    assert post(world, "/api/v1/customers/theirs/review", "mgr",
                {"decision": "approve"}).status_code == 404  # not the manager's department
