"""The follow-up form, requests and review decisions in the admin (SPEC §6, §7)."""
from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from jobs.evaluator import tick
from models import Customer, Employee, FollowUp, Task, db
from models.base import utcnow
from tests.conftest import csrf_token_from, login, make_user, post_form
from tests.engine_support import added, customer as by_id, doc, events, load

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def team():
    document = doc()
    document["employees"].append({"userid": "zhao", "name": "赵经理", "department": "华东销售",
                                  "role": "manager"})
    load(document, utcnow() - timedelta(days=30))
    staff = {e.userid: e for e in db.session.scalars(select(Employee))}
    make_user("zs", "sales", staff["zhangsan"])
    make_user("ls", "sales", staff["lisi"])
    make_user("mgr", "manager", staff["zhao"])
    added_at = utcnow() - timedelta(days=7)
    events(added("mine", annual_value=600_000), added("theirs", owner="lisi"), now=added_at)
    tick(db.session, utcnow())
    db.session.expire_all()
    return {"mine": by_id("mine"), "theirs": by_id("theirs"), **staff}


def local_input(instant) -> str:
    return instant.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def form_data(**fields) -> dict:
    data = {"at": local_input(utcnow() - timedelta(minutes=5)), "method": "phone",
            "key_points": "介绍了年度方案", "feedback": "", "next_action": "", "next_date": "",
            "collab_department": "", "outcome": "none", "lost_reason": ""}
    data.update(fields)
    return data


def cadence_tasks(customer: Customer, status: str = "open") -> list[Task]:
    return db.session.scalars(select(Task).where(
        Task.customer_id == customer.id, Task.rule == "cadence", Task.status == status)).all()


def test_inbox_offers_log_follow_up_and_the_form_closes_the_task(client, team):
    mine = team["mine"]
    assert [t.due_at for t in cadence_tasks(mine)] == [mine.next_followup_at]
    login(client, "zs")
    inbox = client.get("/admin/inbox/").get_data(as_text=True)
    assert f"/admin/followup/?customer={mine.id}" in inbox
    # the next 09:00 to come: its task shows a day ahead, so it is open at once
    local_now = utcnow().astimezone(SHANGHAI)
    tomorrow = (local_now + timedelta(days=0 if local_now.hour < 9 else 1)).date()
    resp = post_form(client, f"/admin/followup/?customer={mine.id}",
                     form_data(feedback="有兴趣", next_date=tomorrow.isoformat(),
                               outcome="opportunity", collab_department="华南销售"))
    assert resp.status_code == 302
    db.session.expire_all()
    record = db.session.scalar(select(FollowUp))
    assert (record.feedback, record.outcome, record.employee.userid,
            record.collab_department.name) == ("有兴趣", "opportunity", "zhangsan", "华南销售")
    assert [t.status for t in cadence_tasks(mine, "done")] == ["done"]
    # promised for the next 09:00: the next task is already in the inbox
    [following] = cadence_tasks(mine)
    assert following.due_at.astimezone(SHANGHAI).date() == tomorrow
    assert db.session.get(Customer, mine.id).followup_outcome == "opportunity"


@pytest.mark.parametrize("fields, field", [
    ({"outcome": "lost"}, "lost_reason"),
    ({"key_points": ""}, "key_points"),
    ({"at": local_input(utcnow() + timedelta(hours=2))}, "at"),
    ({"next_date": "2001-01-01"}, "next_date"),
])
def test_a_bad_form_says_why_and_writes_nothing(client, team, fields, field):
    login(client, "zs")
    resp = post_form(client, f"/admin/followup/?customer={team['mine'].id}", form_data(**fields))
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    invalid = re.findall(r'class="form-control is-invalid" id="(\w+)"', html)
    assert invalid == [field]
    assert db.session.scalar(select(func.count(FollowUp.id))) == 0
    assert len(cadence_tasks(team["mine"])) == 1


def test_sales_cannot_log_for_a_colleagues_customer(client, team):
    login(client, "zs")
    assert client.get(f"/admin/followup/?customer={team['theirs'].id}").status_code == 404


def test_a_request_gets_the_sla_deadline_and_names_only_visible_customers(client, team):
    login(client, "zs")
    resp = post_form(client, "/admin/new_request/", {
        "customer": "theirs", "assignee": team["wangwu"].id, "title": "补发票", "text": ""})
    assert re.findall(r'class="form-control is-invalid" id="(\w+)"',
                      resp.get_data(as_text=True)) == ["customer"]
    assert db.session.scalar(select(Task).where(Task.kind == "request")) is None
    before = utcnow()
    resp = post_form(client, "/admin/new_request/", {
        "customer": "mine", "assignee": team["wangwu"].id, "title": "补发票", "text": "急"})
    assert resp.status_code == 302
    request = db.session.scalar(select(Task).where(Task.kind == "request"))
    assert (request.employee.userid, request.title, request.text) == ("wangwu", "补发票", "急")
    assert timedelta(hours=24) <= request.deadline_at - before < timedelta(hours=24, minutes=1)


def test_the_manager_approves_or_rejects_from_the_inbox(client, team):
    reviews = db.session.scalars(select(Task).where(Task.rule == "review")
                                 .order_by(Task.id)).all()
    mine_review = next(t for t in reviews if t.customer_id == team["mine"].id)
    login(client, "zs")
    page = client.get("/admin/inbox/").get_data(as_text=True)
    token = csrf_token_from(page)
    assert client.post("/admin/followup/review/", data={
        "csrf_token": token, "id": mine_review.id, "decision": "approve"}).status_code == 403
    client.post("/logout", data={"csrf_token": token})
    login(client, "mgr")
    page = client.get("/admin/inbox/").get_data(as_text=True)
    assert "task-approve" in page
    token = csrf_token_from(page)
    resp = client.post("/admin/followup/review/", data={
        "csrf_token": token, "id": mine_review.id, "decision": "reject", "reason": ""},
        follow_redirects=True)
    assert "a rejection needs a reason" in resp.get_data(as_text=True)
    assert db.session.get(Customer, team["mine"].id).review_status == "pending"
    client.post("/admin/followup/review/", data={
        "csrf_token": token, "id": mine_review.id, "decision": "reject", "reason": "缺电话"})
    db.session.expire_all()
    assert db.session.get(Customer, team["mine"].id).review_status == "rejected"
    [back] = db.session.scalars(select(Task).where(Task.rule == "review_rejected")).all()
    assert (back.employee.userid, back.text) == ("zhangsan", "缺电话")


def test_an_overdue_task_shows_flagged_to_its_owner(client, team):
    task = cadence_tasks(team["mine"])[0]
    task.due_at = utcnow() - timedelta(days=3)
    db.session.commit()
    tick(db.session, utcnow())
    login(client, "zs")
    page = client.get("/admin/inbox/").get_data(as_text=True)
    assert "task-escalated" in page


def test_the_inbox_filters_by_kind_and_by_flagged(client, team):
    login(client, "mgr")
    everything = client.get("/admin/inbox/").get_data(as_text=True)
    assert "inbox-kind-review" in everything and "inbox-kind-followup" in everything
    reviews = client.get("/admin/inbox/?kind=review").get_data(as_text=True)
    shown = set(re.findall(r'data-task-id="(\d+)"', reviews))
    expected = {str(t.id) for t in db.session.scalars(select(Task).where(  # 华东's only
        Task.kind == "review", Task.status == "open", Task.customer_id == team["mine"].id))}
    assert shown == expected and shown
    assert "task-approve" in reviews and "task-log-followup" not in reviews
    flagged = client.get("/admin/inbox/?flagged=1").get_data(as_text=True)
    # the review of a record added a week ago is past its one working day: flagged; the
    # follow-up due today is not
    assert set(re.findall(r'data-task-id="(\d+)"', flagged)) == expected
    assert client.get("/admin/inbox/?kind=nonsense").status_code == 200  # ignored, not an error
