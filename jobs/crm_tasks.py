"""Customer requests and new-customer reviews (SPEC §6): tasks with a deadline.

- A request (需求任务) is assigned to a person and must be answered within
  `request_sla_hours` (default 24); past it, the tick escalates it (crm_rules).
- A pending customer record waits for its department manager's review: the tick
  opens one review task per pending customer it sees change, due within
  `review_working_days` working days (Chinese holidays and make-up workdays,
  jobs/workdays.py). Approve -> activated; reject -> the reason, and a task back
  to the owner, whose Done resubmits the record (pending again, a new review).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from jobs.core.workdays import add_working_days
from jobs.customer_writes import journal
from jobs.workdays import calendar_for
from models import Customer, Employee, Settings, Task
from models.audit import audit_bulk
from models.one_of import one_of

REVIEW_TITLE = "新客户审核：{name}"
REJECTED_TITLE = "客户资料被驳回：{name}"


class ReviewError(ValueError):
    """A decision that cannot be taken (no reason given); nothing was changed."""


class ReviewConflict(ReviewError):
    """The record is not pending review (decided already, or never submitted)."""


def create_request(session, customer: Customer, assignee: Employee, title: str,
                   text: str | None, now: datetime) -> Task:
    settings = Settings.get(session)
    task = Task(kind="request", status="open", customer=customer, employee=assignee,
                title=title, text=text, due_at=now, created_at=now,
                deadline_at=now + timedelta(hours=settings.request_sla_hours))
    session.add(task)
    session.flush()
    return task


def review_deadline(settings: Settings, since: datetime,
                    is_workday: Callable[[date], bool]) -> datetime:
    """`since` plus the review's working days by `is_workday` (the work calendar)."""
    zone = ZoneInfo(settings.timezone)
    local = add_working_days(since.astimezone(zone), settings.review_working_days, is_workday)
    return local.astimezone(since.tzinfo)


def department_managers(session) -> dict[int, Employee]:
    """The active manager of each department (the first by id)."""
    managers: dict[int, Employee] = {}
    for employee in session.scalars(select(Employee).where(
            Employee.role == "manager", Employee.active.is_(True),
            Employee.department_id.is_not(None)).order_by(Employee.id)):
        managers.setdefault(employee.department_id, employee)
    return managers


def open_reviews(session, settings: Settings, ids, now: datetime) -> int:
    """A review task for each pending customer among `ids` without one open, for the
    manager of the owner's department (else any manager who sees the customer).

    Set-based: a tick's new customers are hundreds of reviews; one INSERT and one
    audit row for them all (ORM objects with an audit row each were a third of a tick).
    """
    if not ids:
        return 0
    waiting = session.execute(
        select(Customer.id, Customer.name, Customer.added_at, Customer.review_reason,
               Employee.department_id)
        .outerjoin(Employee, Employee.id == Customer.owner_id)
        .where(one_of(Customer.id, ids), Customer.review_status == "pending",
               ~Customer.id.in_(select(Task.customer_id).where(
                   Task.rule == "review", Task.status == "open",
                   one_of(Task.customer_id, ids))))).all()
    if not waiting:
        return 0
    managers, is_workday = department_managers(session), calendar_for(session)
    rows = []
    for customer in waiting:
        manager = managers.get(customer.department_id)
        # a resubmitted record keeps its rejection's reason: its day counts from now
        since = now if customer.review_reason else customer.added_at
        rows.append({
            "kind": "review", "rule": "review", "status": "open", "customer_id": customer.id,
            "employee_id": manager.id if manager else None,
            "role": None if manager else "manager",
            "title": REVIEW_TITLE.format(name=customer.name), "due_at": since,
            "deadline_at": review_deadline(settings, since, is_workday), "created_at": now})
    session.execute(insert(Task.__table__), rows)
    audit_bulk(session, "Task", f"review tasks opened: {len(rows)}", {"reviews": len(rows)})
    return len(rows)


def _open_task(session, customer: Customer, rule: str) -> Task | None:
    return session.scalar(select(Task).where(Task.customer_id == customer.id,
                                             Task.rule == rule, Task.status == "open"))


def decide(session, customer: Customer, approve: bool, reason: str | None,
           now: datetime, by: str) -> None:
    """The manager's decision on a pending record."""
    if customer.review_status != "pending":
        raise ReviewConflict(f"the record of {customer.name} is {customer.review_status}, "
                          "not pending review")
    reason = (reason or "").strip()
    if not approve and not reason:
        raise ReviewError("a rejection needs a reason")
    old = customer.review_status
    customer.review_status = "activated" if approve else "rejected"
    customer.review_reason = None if approve else reason
    task = _open_task(session, customer, "review")
    if task is not None:
        task.status, task.done_at, task.done_by = "done", now, by
    if not approve and customer.owner is not None:
        session.add(Task(kind="review", rule="review_rejected", status="open",
                         customer=customer, employee=customer.owner, due_at=now,
                         created_at=now, title=REJECTED_TITLE.format(name=customer.name),
                         text=reason))
    session.flush()
    journal(session, [(customer.id, "updated",
                       {"review_status": {"from": old, "to": customer.review_status}})],
            now, source="admin")


def resubmit(session, customer: Customer, now: datetime) -> None:
    """The owner fixed a rejected record: back to pending; the tick opens a new review."""
    if customer.review_status != "rejected":
        return
    customer.review_status = "pending"
    journal(session, [(customer.id, "updated",
                       {"review_status": {"from": "rejected", "to": "pending"}})], now,
            source="admin")


def task_done(session, task: Task, now: datetime, by: str) -> None:
    """Done on a review task approves; on a rejected record's task it resubmits."""
    if task.rule == "review" and task.customer is not None \
            and task.customer.review_status == "pending":
        decide(session, task.customer, True, None, now, by)
    elif task.rule == "review_rejected" and task.customer is not None:
        resubmit(session, task.customer, now)
