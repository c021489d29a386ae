"""Follow-up cadences (SPEC §6) through events and the tick, with the clock passed in."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from jobs.events import EventsInvalid
from jobs.sender import mark_task_done
from models import Customer, Employee, FollowUp, Settings, Task, db
from tests.engine_support import added, customer, events, load, doc, local, lost, run_tick

T0 = local(2025, 3, 3, 10)  # a Monday, 10:00 Shanghai


def followup(external_id: str, **fields) -> dict:
    return {"type": "followup_logged", "external_id": external_id, "method": "phone",
            "key_points": "聊了新品", **fields}


def open_followups(external_id: str) -> list[Task]:
    return db.session.scalars(select(Task).join(Customer, Customer.id == Task.customer_id).where(
        Customer.external_id == external_id, Task.rule == "cadence",
        Task.status == "open")).all()


@pytest.fixture(autouse=True)
def staff():
    load(doc(), local(2025, 1, 1))


def test_next_follow_up_by_tier():
    events(added("big", annual_value=600_000), added("mid", annual_value=200_000),
           added("small", annual_value=10_000), now=T0)
    run_tick(T0 + timedelta(minutes=1))
    due = {x: customer(x).next_followup_at for x in ("big", "mid", "small")}
    assert due == {"big": T0 + timedelta(days=7), "mid": T0 + timedelta(days=14),
                   "small": T0 + timedelta(days=30)}


def test_configured_intervals_are_used():
    settings = Settings.get(db.session)
    settings.followup_days_high = 3
    db.session.commit()
    events(added("big", annual_value=600_000), now=T0)
    run_tick(T0)
    assert customer("big").next_followup_at == T0 + timedelta(days=3)


def test_the_task_appears_one_day_before_it_is_due():
    events(added("big", annual_value=600_000), now=T0)
    due = T0 + timedelta(days=7)
    run_tick(due - timedelta(days=1, minutes=1))
    assert open_followups("big") == []
    run_tick(due - timedelta(days=1))
    [task] = open_followups("big")
    assert (task.kind, task.due_at, task.employee.userid) == ("followup", due, "zhangsan")
    run_tick(due)  # kept: still one
    assert len(open_followups("big")) == 1


def test_logging_a_follow_up_closes_the_task_and_plans_the_next():
    events(added("big", annual_value=600_000), now=T0)
    run_tick(T0 + timedelta(days=6))
    [task] = open_followups("big")
    at = T0 + timedelta(days=6, hours=2)
    events(followup("big", feedback="感兴趣", next_action="发报价"), now=at)
    db.session.refresh(task)
    assert (task.status, task.done_at) == ("done", at)
    big = customer("big")
    assert (big.last_followup_at, big.next_followup_at) == (at, at + timedelta(days=7))
    assert big.last_interaction_at == at
    record = db.session.scalar(select(FollowUp))
    assert (record.method, record.feedback, record.employee.userid) == ("phone", "感兴趣", "zhangsan")
    run_tick(at + timedelta(days=6) - timedelta(minutes=1))
    assert open_followups("big") == []
    run_tick(at + timedelta(days=6))
    assert [t.due_at for t in open_followups("big")] == [at + timedelta(days=7)]


def test_a_promised_date_wins_and_nurture_waits_longer():
    events(added("a", annual_value=600_000), added("b", annual_value=600_000), now=T0)
    events(followup("a", next_date="2025-03-05"), followup("b", outcome="nurture"),
           now=T0 + timedelta(hours=1))
    run_tick(T0 + timedelta(hours=2))
    assert customer("a").next_followup_at == local(2025, 3, 5, 9)
    assert customer("b").next_followup_at == T0 + timedelta(hours=1, days=60)
    assert customer("b").followup_outcome == "nurture"
    # promised for the day after tomorrow: the task shows from tomorrow 09:00
    run_tick(local(2025, 3, 4, 9))
    assert [t.due_at for t in open_followups("a")] == [local(2025, 3, 5, 9)]


def test_lost_needs_a_reason_and_stops_the_cadence():
    events(added("x", annual_value=600_000), now=T0)
    run_tick(T0 + timedelta(days=6))
    with pytest.raises(EventsInvalid) as caught:
        events(followup("x", outcome="lost"), now=T0 + timedelta(days=6, hours=1))
    assert [p.field for p in caught.value.problems] == ["lost_reason"]
    assert db.session.scalar(select(FollowUp)) is None  # nothing written
    events(followup("x", outcome="lost", lost_reason="预算不足"),
           now=T0 + timedelta(days=6, hours=1))
    run_tick(T0 + timedelta(days=6, hours=2))
    x = customer("x")
    assert (x.churn_status, x.lost_reason, x.next_followup_at) == ("lost", "预算不足", None)
    run_tick(T0 + timedelta(days=60))
    assert open_followups("x") == []


def test_an_opportunity_is_recorded_on_the_customer():
    events(added("x"), now=T0)
    events(followup("x", outcome="opportunity", method="visit"), now=T0 + timedelta(days=1))
    assert customer("x").followup_outcome == "opportunity"


def test_tier_owner_and_churn_changes_move_the_open_task():
    events(added("x", annual_value=200_000), now=T0)  # potential: 14 days
    run_tick(T0 + timedelta(days=13))
    [task] = open_followups("x")
    events({"type": "owner_changed", "external_id": "x", "owner": "lisi"},
           now=T0 + timedelta(days=13, minutes=1))
    run_tick(T0 + timedelta(days=13, minutes=2))
    db.session.refresh(task)
    assert (task.status, task.employee.userid) == ("open", "lisi")
    # now normal (30 days): the task is out of sight again until day 29
    events({"type": "customer_updated", "external_id": "x", "annual_value": 1000},
           now=T0 + timedelta(days=13, minutes=3))
    run_tick(T0 + timedelta(days=13, minutes=4))
    db.session.refresh(task)
    assert task.status == "cancelled" and open_followups("x") == []
    run_tick(T0 + timedelta(days=29))
    assert [t.due_at for t in open_followups("x")] == [T0 + timedelta(days=30)]
    events(lost("x"), now=T0 + timedelta(days=29, minutes=1))
    run_tick(T0 + timedelta(days=29, minutes=2))
    assert open_followups("x") == []


def test_done_without_a_record_counts_as_the_follow_up():
    events(added("x", annual_value=600_000), now=T0)
    run_tick(T0 + timedelta(days=6))
    [task] = open_followups("x")
    done_at = T0 + timedelta(days=7)
    mark_task_done(db.session, task, done_at, by="zhangsan")
    db.session.commit()
    assert customer("x").next_followup_at == done_at + timedelta(days=7)


def test_overdue_tasks_are_flagged_once():
    events(added("x", annual_value=600_000), now=T0)
    due = T0 + timedelta(days=7)
    run_tick(due + timedelta(hours=13))  # still the due day (23:00 local)
    [task] = open_followups("x")
    assert task.escalated_at is None
    flagged = local(2025, 3, 11, 0, 1)
    run_tick(flagged)
    db.session.refresh(task)
    assert task.escalated_at == flagged
    run_tick(flagged + timedelta(hours=1))
    db.session.refresh(task)
    assert task.escalated_at == flagged


def test_a_customer_without_an_active_owner_gets_no_task():
    events(added("x", annual_value=600_000), now=T0)
    db.session.scalar(select(Employee).where(Employee.userid == "zhangsan")).active = False
    db.session.commit()
    run_tick(T0 + timedelta(days=8))
    assert open_followups("x") == []


def test_customers_from_before_are_planned_by_the_tick():
    events(added("x", annual_value=600_000), now=T0)
    run_tick(T0)
    x = customer("x")
    x.next_followup_at = None  # as the migration leaves existing customers
    db.session.commit()
    summary = run_tick(T0 + timedelta(hours=1))
    assert summary["followups_planned"] == 1
    assert customer("x").next_followup_at == T0 + timedelta(days=7)
