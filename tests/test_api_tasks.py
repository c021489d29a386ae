"""`GET /api/v1/tasks` and `POST /api/v1/tasks/<id>/done` (SPEC §8): inbox items by
employee and status, in the token user's rows; done marks a send task's deliveries sent,
once."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from models import ApiToken, AuditLog, Delivery, SendBatch, Task, db
from models.audit import acting_as
from tests.conftest import make_employee, make_user
from tests.inbox_support import customer, plain_task, send_task

T0 = datetime(2025, 3, 1, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def bearer(username: str, role: str, employee=None) -> dict:
    user = make_user(username, role, employee)
    with acting_as("test"):
        row, plain = ApiToken.issue(user)
        db.session.add(row)
        db.session.commit()
    return {"Authorization": f"Bearer {plain}"}


@pytest.fixture
def world(client):
    """zhangsan (华东) has a send task to c1, c2 and a follow-up about c1; lisi (华南) a
    done follow-up about c3; a task for any sales about c3; wangwu (华东) a request."""
    zhang = make_employee("zhangsan", department="华东销售")
    li = make_employee("lisi", department="华南销售")
    wang = make_employee("wangwu", department="华东销售", role="service")
    boss = make_employee("boss", department="华东销售", role="manager")
    db.session.commit()
    tasks = {
        "send": send_task(zhang, ["c1", "c2"], T0, text="春季优惠"),
        "followup": plain_task("回访 c1", at("2025-03-02T01:00:00+00:00"), employee=zhang,
                               about=customer("c1", zhang)),
        "done": plain_task("回访 c3", at("2025-02-27T01:00:00+00:00"), employee=li,
                           about=customer("c3", li), status="done"),
        "any_sales": plain_task("任意销售 c3", at("2025-03-01T00:00:00+00:00"), role="sales",
                                about=customer("c3", li), kind="step"),
        "request": plain_task("需求 c2", at("2025-03-03T01:00:00+00:00"), employee=wang,
                              about=customer("c2", zhang), kind="request"),
    }
    return {"client": client, "tasks": tasks, "ops": bearer("ops", "ops"),
            "zhang": bearer("zs", "sales", zhang), "li": bearer("ls", "sales", li),
            "boss": bearer("mgr", "manager", boss), "staff": {"zhang": zhang, "li": li}}


def get(world, url, who="ops"):
    return world["client"].get(url, headers=world[who])


def post(world, url, who="ops", **kwargs):
    return world["client"].post(url, headers=world[who], **kwargs)


def ids(resp) -> list[int]:
    assert resp.status_code == 200, resp.json
    return [t["id"] for t in resp.json]


def tid(world, name) -> int:
    return world["tasks"][name].id


def audit_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(AuditLog))


# --- listing ---------------------------------------------------------------------------------
def test_tasks_are_listed_by_due_time_in_the_contract_shape(world):
    resp = get(world, "/api/v1/tasks")
    assert ids(resp) == [tid(world, n) for n in ("done", "any_sales", "send", "followup",
                                                 "request")]
    by_id = {t["id"]: t for t in resp.json}
    assert by_id[tid(world, "send")] == {
        "id": tid(world, "send"), "kind": "send", "employee": "zhangsan", "role": None,
        "customers": ["c1", "c2"], "title": "SOP care", "text": "春季优惠",
        "due_at": "2025-03-01T02:00:00+00:00", "deadline_at": None, "status": "open",
        "done_at": None, "rule": None, "escalated_at": None}
    follow = by_id[tid(world, "followup")]
    assert (follow["kind"], follow["customers"], follow["text"]) == (
        "followup", ["c1"], "Text of 回访 c1")  # a one-customer task: its customer
    anyone = by_id[tid(world, "any_sales")]
    assert (anyone["employee"], anyone["role"], anyone["customers"]) == (None, "sales", ["c3"])


def test_filters_by_employee_and_status_and_pages(world):
    assert ids(get(world, "/api/v1/tasks?employee=zhangsan")) == [
        tid(world, "send"), tid(world, "followup")]
    assert ids(get(world, "/api/v1/tasks?status=done")) == [tid(world, "done")]
    assert ids(get(world, "/api/v1/tasks?employee=lisi&status=open")) == []
    assert ids(get(world, "/api/v1/tasks?status=cancelled")) == []
    everything = ids(get(world, "/api/v1/tasks?status=open"))
    assert tid(world, "done") not in everything and len(everything) == 4
    assert ids(get(world, "/api/v1/tasks?status=open&limit=2&offset=1")) == everything[1:3]


@pytest.mark.parametrize("query, status, named", [
    ("status=finished", 400, "status"), ("status=OPEN", 400, "status"),
    ("limit=0", 400, "limit"), ("limit=1001", 400, "limit"), ("limit=ten", 400, "limit"),
    ("offset=-1", 400, "offset"), ("employee=nobody", 404, "employee"),
])
def test_bad_parameters_name_themselves(world, query, status, named):
    resp = get(world, f"/api/v1/tasks?{query}")
    assert resp.status_code == status
    assert resp.json["error"] == ("invalid_parameter" if status == 400 else "not_found")
    assert resp.json["detail"].startswith(f"{named}:"), resp.json


def test_rows_follow_the_role(world):
    # sales: their own tasks, and tasks for any sales about their own customers
    assert ids(get(world, "/api/v1/tasks", "zhang")) == [tid(world, "send"),
                                                          tid(world, "followup")]
    assert ids(get(world, "/api/v1/tasks", "li")) == [tid(world, "done"),
                                                       tid(world, "any_sales")]
    # another employee's tasks are not among a sales user's rows
    assert ids(get(world, "/api/v1/tasks?employee=zhangsan", "li")) == []
    # a manager: their department's staff (zhangsan, wangwu), not lisi's
    assert ids(get(world, "/api/v1/tasks", "boss")) == [
        tid(world, "send"), tid(world, "followup"), tid(world, "request")]
    finance = bearer("fin", "finance")
    resp = world["client"].get("/api/v1/tasks", headers=finance)
    assert (resp.status_code, resp.json["error"]) == (403, "forbidden")
    unlinked = bearer("loose", "sales")  # a sales login without an employee sees nothing
    assert world["client"].get("/api/v1/tasks", headers=unlinked).json == []


# --- done ------------------------------------------------------------------------------------
def deliveries_of(task_id: int) -> list[tuple]:
    db.session.expire_all()
    return [(d.status, d.sent_at) for d in db.session.scalars(
        select(Delivery).where(Delivery.task_id == task_id).order_by(Delivery.id))]


def test_done_marks_the_deliveries_sent_once(world):
    send = tid(world, "send")
    resp = post(world, f"/api/v1/tasks/{send}/done", "zhang",
                json={"at": "2025-03-01T10:30:00+08:00"})
    assert resp.status_code == 200, resp.json
    assert resp.json == {"id": send, "status": "done", "sent": 2}
    sent_at = at("2025-03-01T02:30:00+00:00")
    assert deliveries_of(send) == [("sent", sent_at), ("sent", sent_at)]
    task = db.session.get(Task, send)
    assert (task.status, task.done_at, task.done_by) == ("done", sent_at, "zs")
    batch = db.session.scalar(select(SendBatch).where(SendBatch.task_id == send))
    assert (batch.status, batch.finished_at) == ("done", sent_at)
    audits = db.session.scalars(select(AuditLog).where(
        AuditLog.object_type == "Task", AuditLog.object_id == send)).all()
    assert [(a.action, a.actor, a.after.get("status")) for a in audits][-1] == (
        "update", "api:zs", "done")

    # again, later or earlier: 200, nothing sent, nothing changed
    audited = audit_count()
    for again in ({"at": "2025-03-05T10:00:00+08:00"}, {"at": "2025-02-01T10:00:00+08:00"},
                  None):
        resp = post(world, f"/api/v1/tasks/{send}/done", "zhang", json=again)
        assert (resp.status_code, resp.json) == (200, {"id": send, "status": "done", "sent": 0})
    assert deliveries_of(send) == [("sent", sent_at), ("sent", sent_at)]
    assert db.session.get(Task, send).done_at == sent_at
    assert audit_count() == audited
    listed = get(world, "/api/v1/tasks?status=done&employee=zhangsan").json
    assert [t["id"] for t in listed] == [send]


def test_done_without_a_body_is_now_and_a_task_without_messages_sends_none(world):
    follow = tid(world, "followup")
    resp = post(world, f"/api/v1/tasks/{follow}/done", "zhang")
    assert (resp.status_code, resp.json) == (200, {"id": follow, "status": "done", "sent": 0})
    task = db.session.get(Task, follow)
    assert task.status == "done" and abs(
        (task.done_at - datetime.now(timezone.utc)).total_seconds()) < 60


def test_done_refuses_bad_input_and_changes_nothing(world):
    send = tid(world, "send")
    audited = audit_count()
    for body in ({"at": "yesterday"}, {"at": "2025-03-01T10:30:00"}, {"at": 5},
                 {"when": "now"}, [1]):
        resp = post(world, f"/api/v1/tasks/{send}/done", json=body)
        assert resp.status_code == 400, body
        assert set(resp.json) == {"error", "detail"}
    assert post(world, f"/api/v1/tasks/{send}/done",
                json={"at": "noon"}).json["detail"].startswith("at:")
    missing = post(world, "/api/v1/tasks/999999/done")
    assert (missing.status_code, missing.json["error"]) == (404, "not_found")
    assert missing.json["detail"] == "task: no task 999999"
    assert post(world, "/api/v1/tasks/abc/done").status_code == 404
    assert deliveries_of(send) == [("queued", None), ("queued", None)]
    assert db.session.get(Task, send).status == "open"
    assert audit_count() == audited


def test_only_someone_who_sees_the_task_may_mark_it_done(world):
    send = tid(world, "send")
    resp = post(world, f"/api/v1/tasks/{send}/done", "li")  # another sales employee
    assert (resp.status_code, resp.json["error"]) == (404, "not_found")
    finance = bearer("fin", "finance")
    assert world["client"].post(f"/api/v1/tasks/{send}/done",
                                headers=finance).status_code == 403
    assert deliveries_of(send) == [("queued", None), ("queued", None)]
    # their manager may
    resp = post(world, f"/api/v1/tasks/{send}/done", "boss")
    assert (resp.status_code, resp.json["sent"]) == (200, 2)
    # a task for any sales about lisi's customer: lisi may, zhangsan may not
    anyone = tid(world, "any_sales")
    assert post(world, f"/api/v1/tasks/{anyone}/done", "zhang").status_code == 404
    assert post(world, f"/api/v1/tasks/{anyone}/done", "li").json["status"] == "done"


def test_a_cancelled_task_cannot_be_done(world):
    task = world["tasks"]["request"]
    with acting_as("test"):
        task.status = "cancelled"
        db.session.commit()
    resp = post(world, f"/api/v1/tasks/{task.id}/done")
    assert resp.status_code == 409
    assert resp.json == {"error": "conflict", "detail": f"task {task.id} is cancelled"}
    db.session.expire_all()
    assert db.session.get(Task, task.id).status == "cancelled"


def test_without_a_token_nothing_is_answered_or_done(world):
    send = tid(world, "send")
    assert world["client"].get("/api/v1/tasks").status_code == 401
    assert world["client"].post(f"/api/v1/tasks/{send}/done").status_code == 401
    assert deliveries_of(send) == [("queued", None), ("queued", None)]
