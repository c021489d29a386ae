"""Follow-up cadences (SPEC §6): records in, one open follow-up task per customer out.

- `record_followup` stores a follow-up (the `followup_logged` event and the admin
  form both come here): the customer's last follow-up and outcome move, its open
  follow-up task is done, and the next one is planned at once.
- `refresh(session, settings, ids, now)` recomputes the next follow-up of the given
  customers (the tick passes the ones whose tier, owner or churn status changed)
  and keeps their open task in step: moved, reassigned to the new owner, or
  cancelled when the customer is lost or the date moved out of sight.
- `open_due_tasks` creates the task of every customer whose follow-up falls due
  within a day (SPEC: it appears one day before), at most a chunk per tick.
The dates come from jobs/core/cadence.py; nothing here reads the clock.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, insert, select, text, update

from jobs.core.cadence import FollowState, Intervals, next_followup, visible_from
from models import Customer, Employee, FollowUp, Settings, Task
from models.customers import UNPLANNED
from models.one_of import one_of

LEAD = timedelta(days=1)  # a follow-up task shows this long before it is due
OPEN_CHUNK = 5000  # follow-up tasks opened per tick at most (the rest next minute)
BACKFILL_CHUNK = 20_000  # customers without a planned follow-up, planned per tick
PROMISED_AT = time(9, 0)  # a follow-up promised for a date is due at 09:00 local
TITLE = "客户跟进"  # data, like a step's title: shown as written
CUSTOMERS, TASKS = Customer.__table__, Task.__table__  # executemany updates: Core, not ORM


def intervals(settings: Settings) -> Intervals:
    return Intervals(settings.followup_days_high, settings.followup_days_potential,
                     settings.followup_days_normal, settings.followup_days_nurture)


def promised_time(day: date | None, zone: ZoneInfo) -> datetime | None:
    if day is None:
        return None
    return datetime.combine(day, PROMISED_AT, zone).astimezone(timezone.utc)


def _later(current: datetime | None, at: datetime) -> bool:
    return current is None or at >= current


def record_followup(session, settings: Settings, customer: Customer, employee, at: datetime,
                    fields: dict, department=None) -> FollowUp:
    """Store one follow-up and move the customer's cadence. The caller journals it."""
    outcome = fields.get("outcome") or "none"
    followup = FollowUp(customer=customer, employee=employee, at=at, method=fields["method"],
                        key_points=fields["key_points"], feedback=fields.get("feedback"),
                        next_action=fields.get("next_action"), next_date=fields.get("next_date"),
                        collab_department=department, outcome=outcome,
                        lost_reason=fields.get("lost_reason"))
    session.add(followup)
    if _later(customer.last_followup_at, at):  # a replayed older record moves nothing
        customer.last_followup_at = at
        if outcome != "none":
            customer.followup_outcome = outcome
        if outcome == "lost":
            customer.lost_reason = fields["lost_reason"]
        customer.followup_promised_at = promised_time(fields.get("next_date"),
                                                      ZoneInfo(settings.timezone))
        customer.next_followup_at = next_followup(_state(customer), intervals(settings))
        _close_open_task(session, customer, at, employee)
    session.flush()
    return followup


def _state(customer) -> FollowState:
    return FollowState(customer.tier, customer.churn_status, customer.added_at,
                       customer.last_followup_at, customer.followup_outcome,
                       customer.followup_promised_at)


def _close_open_task(session, customer: Customer, at: datetime, employee) -> None:
    if customer.followup_task_id is None:
        return
    task = session.get(Task, customer.followup_task_id)
    if task is not None and task.status == "open":
        task.status, task.done_at = "done", at
        task.done_by = employee.userid if employee is not None else None
    customer.followup_task_id = None


def task_done(session, task: Task, now: datetime) -> None:
    """A follow-up task marked done without a record (the Done button, the API): it
    counts as the follow-up, and the next one is planned from now."""
    customer = task.customer
    if customer is None or customer.followup_task_id != task.id:
        return
    customer.followup_task_id = None
    if _later(customer.last_followup_at, now):
        customer.last_followup_at, customer.followup_promised_at = now, None
        customer.last_interaction_at = max(customer.last_interaction_at or now, now)
    settings = Settings.get(session)
    customer.next_followup_at = next_followup(_state(customer), intervals(settings))


# --- the tick's part -------------------------------------------------------------------
def refresh(session, settings: Settings, ids, now: datetime) -> int:
    """Recompute the next follow-up of customers `ids`; returns the tasks changed."""
    if not ids:
        return 0
    rules = intervals(settings)
    rows = session.execute(
        select(Customer.id, Customer.tier, Customer.churn_status, Customer.added_at,
               Customer.last_followup_at, Customer.followup_outcome,
               Customer.followup_promised_at, Customer.followup_task_id,
               Customer.next_followup_at)
        .where(one_of(Customer.id, ids))).all()
    plans = [{"cid": row.id, "due": next_followup(FollowState(
        row.tier, row.churn_status, row.added_at, row.last_followup_at, row.followup_outcome,
        row.followup_promised_at), rules)} for row in rows]
    # most changes (a tag, an order) leave the date where it was: write only the moved
    plans = [p for p, row in zip(plans, rows) if p["due"] != row.next_followup_at]
    if plans:
        session.execute(update(CUSTOMERS).where(CUSTOMERS.c.id == bindparam("cid"))
                        .values(next_followup_at=bindparam("due")), plans)
    return _sync_open_tasks(session, [r.id for r in rows if r.followup_task_id], now)


def _sync_open_tasks(session, ids: list[int], now: datetime) -> int:
    """Open follow-up tasks of `ids`: follow the owner and the date, or go."""
    if not ids:
        return 0
    rows = session.execute(
        select(Task.id, Task.employee_id, Task.due_at, Customer.id.label("cid"),
               Customer.owner_id, Customer.next_followup_at)
        .join(Customer, Customer.followup_task_id == Task.id)
        .where(one_of(Customer.id, ids), Task.status == "open")).all()
    gone = [r for r in rows
            if r.next_followup_at is None or visible_from(r.next_followup_at, LEAD.days) > now]
    moved = [r for r in rows if r not in gone
             and (r.employee_id, r.due_at) != (r.owner_id, r.next_followup_at)]
    if gone:
        session.execute(update(Task).where(one_of(Task.id, [r.id for r in gone]))
                        .values(status="cancelled", done_at=now)
                        .execution_options(synchronize_session=False))
        session.execute(update(Customer).where(one_of(Customer.id, [r.cid for r in gone]))
                        .values(followup_task_id=None)
                        .execution_options(synchronize_session=False))
    if moved:
        session.execute(update(TASKS).where(TASKS.c.id == bindparam("tid"))
                        .values(employee_id=bindparam("owner"), due_at=bindparam("due")),
                        [{"tid": r.id, "owner": r.owner_id, "due": r.next_followup_at}
                         for r in moved])
    return len(gone) + len(moved)


def backfill(session, settings: Settings, now: datetime) -> int:
    """Plan the first follow-up of customers that have none planned yet (new columns,
    imported rows), a chunk per tick."""
    ids = session.scalars(  # as written, so both databases use ix_customers_unplanned
        select(Customer.id).where(text(UNPLANNED))
        .order_by(Customer.id).limit(BACKFILL_CHUNK)).all()
    if not ids:
        return 0
    refresh(session, settings, ids, now)
    return len(ids)


def open_due_tasks(session, now: datetime, only: list[int] | None = None) -> int:
    """One open follow-up task for every customer due within a day who has none
    (`only`: just these customers, e.g. the one a follow-up was just logged for)."""
    scope = one_of(Customer.id, only) if only is not None else Customer.id.is_not(None)
    rows = session.execute(
        select(Customer.id, Customer.owner_id, Customer.next_followup_at)
        .join(Employee, Employee.id == Customer.owner_id)
        .where(Customer.followup_task_id.is_(None), Customer.next_followup_at <= now + LEAD,
               Customer.churn_status != "lost", Employee.active.is_(True), scope)
        .order_by(Customer.next_followup_at, Customer.id).limit(OPEN_CHUNK)).all()
    if not rows:
        return 0
    created = session.execute(
        insert(Task).returning(Task.id, Task.customer_id, sort_by_parameter_order=True),
        [{"kind": "followup", "status": "open", "rule": "cadence", "employee_id": r.owner_id,
          "customer_id": r.id, "title": TITLE, "due_at": r.next_followup_at,
          "created_at": now} for r in rows]).all()
    session.execute(update(CUSTOMERS).where(CUSTOMERS.c.id == bindparam("cid"))
                    .values(followup_task_id=bindparam("tid")),
                    [{"cid": customer_id, "tid": task_id} for task_id, customer_id in created])
    return len(created)
