"""Requests, reviews in working days, churn warnings, dormancy (SPEC §6), clock passed in."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from jobs import crm_tasks
from jobs.core.workdays import add_working_days
from jobs.sender import mark_task_done
from jobs.workdays import is_workday
from models import ChangeJournal, Employee, Task, db
from tests.engine_support import added, customer, doc, events, load, local, run_tick

MANAGER = {"userid": "zhao", "name": "赵经理", "department": "华东销售", "role": "manager"}


@pytest.fixture(autouse=True)
def staff():
    document = doc()
    document["employees"].append(MANAGER)
    load(document, local(2024, 1, 1))


def employee(userid: str) -> Employee:
    return db.session.scalar(select(Employee).where(Employee.userid == userid))


def tasks(rule: str, status: str = "open") -> list[Task]:
    return db.session.scalars(select(Task).where(Task.rule == rule, Task.status == status)
                              .order_by(Task.id)).all()


# --- working days -----------------------------------------------------------------------
def test_the_calendar_knows_holidays_and_make_up_days():
    assert is_workday(date(2025, 10, 1)) is False  # National Day
    assert is_workday(date(2025, 9, 28)) is True  # a Sunday worked to make up for it
    assert is_workday(date(2025, 10, 11)) is True  # a Saturday worked
    assert is_workday(date(2025, 10, 12)) is False


def test_a_year_the_calendar_does_not_know_counts_monday_to_friday():
    assert is_workday(date(2035, 1, 5)) is True  # Friday
    assert is_workday(date(2035, 1, 6)) is False  # Saturday
    assert is_workday(date(2035, 1, 8)) is True  # Monday


@pytest.mark.parametrize("added_at, deadline", [
    # Tuesday before the 8-day National Day break: the next working day is 10-09
    (local(2025, 9, 30, 15), local(2025, 10, 9, 15)),
    # Friday 10-10: the next working day is the make-up Saturday 10-11
    (local(2025, 10, 10, 15), local(2025, 10, 11, 15)),
    # Saturday 9-27, a day off: counting starts Sunday 9-28 (a make-up workday)
    (local(2025, 9, 27, 10), local(2025, 9, 29, 0)),
    # an ordinary Thursday
    (local(2025, 3, 6, 11), local(2025, 3, 7, 11)),
])
def test_review_deadline_in_working_days(added_at: datetime, deadline: datetime):
    assert add_working_days(added_at, 1, is_workday) == deadline
    events(added("x", owner="zhangsan", at=added_at.isoformat()), now=added_at)
    run_tick(added_at + timedelta(minutes=1))
    [review] = tasks("review")
    assert (review.employee.userid, review.deadline_at) == ("zhao", deadline)
    assert review.customer.review_status == "pending"


# --- reviews ---------------------------------------------------------------------------
def test_approve_activates_the_record():
    at = local(2025, 3, 6, 11)
    events(added("x"), now=at)
    run_tick(at)
    [review] = tasks("review")
    mark_task_done(db.session, review, at + timedelta(hours=1), by="zhao")
    db.session.commit()
    assert customer("x").review_status == "activated"
    assert tasks("review") == []


def test_reject_needs_a_reason_goes_back_to_the_owner_and_a_fix_reopens_the_review():
    at = local(2025, 3, 6, 11)
    events(added("x"), now=at)
    run_tick(at)
    x = customer("x")
    with pytest.raises(crm_tasks.ReviewError):
        crm_tasks.decide(db.session, x, False, "  ", at, by="zhao")
    assert customer("x").review_status == "pending"
    crm_tasks.decide(db.session, x, False, "电话号码缺失", at + timedelta(hours=1), by="zhao")
    db.session.commit()
    assert (customer("x").review_status, customer("x").review_reason) == ("rejected", "电话号码缺失")
    [back] = tasks("review_rejected")
    assert (back.employee.userid, back.text) == ("zhangsan", "电话号码缺失")
    assert [t.status for t in tasks("review", "done")] == ["done"]
    fixed = at + timedelta(days=1)
    mark_task_done(db.session, back, fixed, by="zhangsan")
    db.session.commit()
    assert customer("x").review_status == "pending"
    run_tick(fixed + timedelta(minutes=1))
    [again] = tasks("review")
    # resubmitted on Friday 3-7 11:00, reviewed from the tick a minute later: due Monday
    assert again.deadline_at == local(2025, 3, 10, 11, 1)
    crm_tasks.decide(db.session, customer("x"), True, None, fixed, by="zhao")
    assert customer("x").review_status == "activated"
    with pytest.raises(crm_tasks.ReviewError):  # decided already
        crm_tasks.decide(db.session, customer("x"), False, "再驳回", fixed, by="zhao")


def test_a_late_review_is_flagged_to_the_manager():
    at = local(2025, 3, 6, 11)
    events(added("x"), now=at)
    run_tick(at)
    run_tick(local(2025, 3, 7, 10, 59))
    assert tasks("review")[0].escalated_at is None
    run_tick(local(2025, 3, 7, 11, 1))
    assert tasks("review")[0].escalated_at == local(2025, 3, 7, 11, 1)


def test_without_a_department_manager_the_review_goes_to_the_managers_role():
    at = local(2025, 3, 6, 11)
    events(added("y", owner="lisi"), now=at)  # 华南销售 has no manager
    run_tick(at)
    [review] = tasks("review")
    assert (review.employee, review.role) == (None, "manager")


# --- requests --------------------------------------------------------------------------
def test_a_request_breaching_its_sla_is_escalated():
    at = local(2025, 3, 6, 11)
    events(added("x"), now=at)
    request = crm_tasks.create_request(db.session, customer("x"), employee("wangwu"),
                                       "开发票", "客户要求补开发票", at)
    db.session.commit()
    assert request.deadline_at == at + timedelta(hours=24)
    run_tick(at + timedelta(hours=23, minutes=59))
    db.session.refresh(request)
    assert request.escalated_at is None
    run_tick(at + timedelta(hours=24, minutes=1))
    db.session.refresh(request)
    assert request.escalated_at == at + timedelta(hours=24, minutes=1)


# --- churn warning and dormancy -----------------------------------------------------------
def order(external_id: str, order_id: str) -> dict:
    return {"type": "order_placed", "external_id": external_id, "order_id": order_id,
            "amount": 99}


def test_churn_warning_after_60_days_without_purchase_once_per_gap():
    at = local(2025, 1, 10, 10)
    events(added("x"), added("y"), now=at)
    events(order("x", "o1"), now=at + timedelta(days=1))
    run_tick(at + timedelta(days=61) - timedelta(minutes=1))
    assert tasks("churn_warning") == []
    run_tick(at + timedelta(days=61, minutes=1))
    [warning] = tasks("churn_warning")
    assert (warning.customer.external_id, warning.employee.userid, warning.kind) == (
        "x", "zhangsan", "followup")
    run_tick(at + timedelta(days=70))
    assert len(tasks("churn_warning")) == 1  # y never bought: no warning; x warned once
    mark_task_done(db.session, warning, at + timedelta(days=70), by="zhangsan")
    events(order("x", "o2"), now=at + timedelta(days=80))
    run_tick(at + timedelta(days=139))
    assert tasks("churn_warning") == []
    run_tick(at + timedelta(days=141))
    assert len(tasks("churn_warning")) == 1


def test_dormant_after_six_months_without_interaction_and_an_order_wakes_them():
    at = local(2024, 6, 1, 10)
    events(added("quiet"), added("busy"), now=at)
    events(order("busy", "o1"), now=at + timedelta(days=100))
    run_tick(at + timedelta(days=180) - timedelta(minutes=1))
    assert customer("quiet").churn_status == "normal"
    later = at + timedelta(days=180, minutes=1)
    summary = run_tick(later)
    assert summary["dormant"] == 1
    quiet = customer("quiet")
    assert (quiet.churn_status, quiet.dormant_since) == ("dormant", later)
    assert customer("busy").churn_status == "normal"
    journal = db.session.scalars(select(ChangeJournal).where(
        ChangeJournal.customer_id == quiet.id, ChangeJournal.source == "rule")).all()
    assert [j.detail for j in journal] == [{"churn_status": {"from": "normal", "to": "dormant"}}]
    assert run_tick(later + timedelta(days=1)).get("dormant", 0) == 0
    assert customer("quiet").churn_status == "dormant"
    events(order("quiet", "o2"), now=later + timedelta(days=2))
    assert (customer("quiet").churn_status, customer("quiet").dormant_since) == ("normal", None)


def test_a_dormant_change_ends_an_sop_whose_early_end_asks_for_it():
    from tests.engine_support import enrollment, sop, step

    at = local(2024, 6, 1, 10)
    events(added("quiet"), now=at)
    nurture = sop("wake", steps=[step(200)], early_end={"when": {"churn_status": "dormant"}})
    load(doc([nurture]), at + timedelta(minutes=1))
    run_tick(at + timedelta(minutes=5))
    assert enrollment("wake", "quiet").status == "active"
    run_tick(at + timedelta(days=181))
    assert enrollment("wake", "quiet").status == "ended_early"


def test_time_going_backwards_repeats_nothing():
    at = local(2025, 1, 10, 10)
    events(added("x"), now=at)
    events(order("x", "o1"), now=at + timedelta(days=1))
    run_tick(at + timedelta(days=62))
    run_tick(at + timedelta(days=30))
    run_tick(at + timedelta(days=62))
    assert len(db.session.scalars(select(Task).where(Task.rule == "churn_warning")).all()) == 1
