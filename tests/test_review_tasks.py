"""Review tasks of new customer records (jobs/crm_tasks.open_reviews): one per pending
customer the tick sees, for the manager of the owner's department or else the manager
role, written in one statement with one audit row, never twice."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from models import AuditLog, Task, db
from tests.engine_support import added, doc, events, load, local, run_tick, tag_added

MANAGER = {"userid": "zhao", "name": "赵经理", "department": "华东销售", "role": "manager"}


def reviews() -> dict[str, Task]:
    return {t.customer.external_id: t for t in db.session.scalars(
        select(Task).where(Task.rule == "review", Task.status == "open"))}


def test_one_review_per_pending_customer_for_the_right_manager_audited_once():
    document = doc()
    document["employees"].append(MANAGER)
    now = local(2026, 12, 1, 10)
    load(document, now)
    events(added("a1"), added("a2"), added("b1", owner="lisi"), now=now)
    assert run_tick(now + timedelta(minutes=1))["reviews"] == 3
    opened = reviews()
    assert sorted(opened) == ["a1", "a2", "b1"]
    assert {k: (t.employee.userid if t.employee else None, t.role)
            for k, t in opened.items()} == {  # 华南 has no manager: the role takes it
        "a1": ("zhao", None), "a2": ("zhao", None), "b1": (None, "manager")}
    assert opened["a1"].title == "新客户审核：a1" and opened["a1"].due_at == now
    assert opened["a1"].deadline_at > now
    [audit] = db.session.scalars(select(AuditLog).where(AuditLog.object_type == "Task")).all()
    assert (audit.action, audit.summary) == ("create", "review tasks opened: 3")
    # a change to a customer with an open review opens no second one
    events(tag_added("a1", "VIP"), now=now + timedelta(minutes=2))
    assert run_tick(now + timedelta(minutes=3)).get("reviews", 0) == 0
    assert len(reviews()) == 3
