"""Preview (dry run) of an SOP: who would enter now, and its send calendar (SPEC §3).

Reads only: nothing is added, flushed or committed (the session does not autoflush
meanwhile, and a missing settings row is stood in for, never created).

Customers are counted in groups whose plans are identical, in SQL: entrants by
their day 0, enrolled customers by (day 0, holdout, the state of each step: not
yet written, or open with its due day). The quota is then simulated once per group
(`jobs.core.calendar`), so the cost follows the number of distinct plans, not the
number of customers. Only this SOP's messages count against the quota here.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import and_, case, func, literal, select, union_all
from sqlalchemy.orm import Session

from jobs.context import Context
from jobs.core.calendar import Message, Quota, Schedule, send_calendar
from jobs.core.due import local_date, local_time
from jobs.core.vocab import DEFAULT_TIMEZONE, OPEN_DELIVERY_STATUSES
from jobs import enrollments
from models import Customer, Delivery, Enrollment, Settings, Sop, SopStep

MAX_DAYS = 90
SAMPLE_SIZE = 20
CALENDAR_ACTIONS = ("message", "task")  # tag and stage steps send nothing
NOT_WRITTEN = 1  # step states per enrollment: 0 = nothing left, 1 = not written yet,
OPEN_FROM = 2  # 2 + n = an open (pending/deferred) delivery due n days from today


def preview(session: Session, sop: Sop, now: datetime, days: int = 30) -> dict:
    """{"would_enter", "sample", "calendar": [{"date", "messages", "tasks",
    "deferred_by_quota"}, ...]} for each local day from today, for `days` days."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_DAYS}")
    with session.no_autoflush:
        ctx = Context(session, now)
        ctx.settings = settings_or_defaults(session)  # before anything reads it
        steps = [s for s in sop.steps if s.action in CALENDAR_ACTIONS]
        where = entry_where(ctx, sop)
        groups = entrant_groups(ctx, sop, where) if where is not None else []
        sample = [] if where is None else list(session.scalars(
            select(Customer.external_id).where(where).order_by(Customer.id).limit(SAMPLE_SIZE)))
        schedules = []
        for day0, customers, held in groups:
            everything = [NOT_WRITTEN] * len(steps)
            schedules.append(schedule(ctx, steps, day0, False, everything, customers - held))
            schedules.append(schedule(ctx, steps, day0, True, everything, held))
        schedules.extend(enrolled_schedules(ctx, sop, steps, days))
        quota = Quota(ctx.settings.quota_limit, ctx.settings.quota_period)
        calendar = send_calendar(schedules, quota, ctx.today, days)
    return {"would_enter": sum(customers for _, customers, _ in groups), "sample": sample,
            "calendar": [day.as_dict() for day in calendar]}


def settings_or_defaults(session: Session) -> Settings:
    """The settings row, or an unsaved one with the defaults (Settings.get would insert)."""
    return session.get(Settings, 1) or Settings(
        id=1, timezone=DEFAULT_TIMEZONE, quota_limit=1, quota_period="day")


# --- who would enter ---------------------------------------------------------------
def entry_where(ctx: Context, sop: Sop):
    """Customers the next evaluation would enroll, as a WHERE clause; None for nobody.

    The same rules as `jobs.enrollments.enter`: the target, not the early-end
    condition, not enrolled before; a new-customer SOP only takes customers added
    within its entry window (and not before it started). A playbook starts per event
    or by hand, so no one enters it by evaluation.
    """
    if sop.kind == "playbook" or sop.status == "ended":
        return None
    where = enrollments.entry_where(ctx, sop)
    if sop.kind == "new_customer":
        where = and_(where, Customer.added_at >= _since(ctx, sop), Customer.added_at <= ctx.now)
    return where


def _since(ctx: Context, sop: Sop) -> datetime:
    since = ctx.now - timedelta(hours=sop.entry_window_hours)
    return max(since, sop.started_at) if sop.started_at else since


def entrant_groups(ctx: Context, sop: Sop, where) -> list[tuple[date, int, int]]:
    """(day 0, customers, of whom held out) per day 0: today, or the local add day."""
    held = func.coalesce(func.sum(case((enrollments.holdout_sql(sop), 1), else_=0)), 0)
    if sop.kind != "new_customer":
        customers, held_out = ctx.session.execute(
            select(func.count(), held).select_from(Customer).where(where)).one()
        return [(ctx.today, customers, held_out)] if customers else []
    groups, day = [], local_date(_since(ctx, sop), ctx.tz)
    while day <= ctx.today:  # a window of hours spans a day or two
        start, end = (local_time(d, "00:00", ctx.tz) for d in (day, day + timedelta(days=1)))
        customers, held_out = ctx.session.execute(
            select(func.count(), held).select_from(Customer)
            .where(where, Customer.added_at >= start, Customer.added_at < end)).one()
        if customers:
            groups.append((day, customers, held_out))
        day += timedelta(days=1)
    return groups


# --- what the enrolled customers still have coming ---------------------------------------
def enrolled_schedules(ctx: Context, sop: Sop, steps: list[SopStep], days: int) -> list[Schedule]:
    """Active enrollments grouped by (day 0, holdout, each step's state)."""
    if not steps:
        return []
    ids = [s.id for s in steps]
    active = and_(Enrollment.sop_id == sop.id, Enrollment.status == "active")
    open_items = (
        select(Delivery.enrollment_id.label("enrollment_id"), Delivery.step_id.label("step_id"),
               (_day_index(ctx, Delivery.due_at, days) + OPEN_FROM).label("state"))
        .join(Enrollment, and_(Enrollment.id == Delivery.enrollment_id,
                               Enrollment.round == Delivery.round))
        .where(active, Delivery.step_id.in_(ids),
               Delivery.status.in_(OPEN_DELIVERY_STATUSES)))
    # next_due_at is NULL once every step is written: those need no look at the steps
    not_written = (
        select(Enrollment.id, SopStep.id, literal(NOT_WRITTEN))
        .join(SopStep, SopStep.sop_id == Enrollment.sop_id)
        .where(active, Enrollment.next_due_at.is_not(None), SopStep.id.in_(ids),
               ~select(Delivery.id).where(Delivery.enrollment_id == Enrollment.id,
                                          Delivery.step_id == SopStep.id,
                                          Delivery.round == Enrollment.round).exists()))
    items = union_all(open_items, not_written).subquery()
    per_enrollment = select(items.c.enrollment_id, *(
        func.max(case((items.c.step_id == step_id, items.c.state), else_=0)).label(f"s{i}")
        for i, step_id in enumerate(ids))).group_by(items.c.enrollment_id).subquery()
    states = [per_enrollment.c[f"s{i}"] for i in range(len(ids))]
    rows = ctx.session.execute(
        select(Enrollment.day0, Enrollment.holdout, func.count(), *states)
        .join(per_enrollment, per_enrollment.c.enrollment_id == Enrollment.id)
        .group_by(Enrollment.day0, Enrollment.holdout, *states)).all()
    return [schedule(ctx, steps, day0, bool(held), [int(s) for s in state], customers)
            for day0, held, customers, *state in rows]


def _day_index(ctx: Context, column, days: int):
    """0 for today (or earlier: due at once), n for the n-th local day after, `days` beyond."""
    whens = [(column < local_time(ctx.today + timedelta(days=n + 1), "00:00", ctx.tz), n)
             for n in range(days)]
    return case(*whens, else_=days)


def schedule(ctx: Context, steps: list[SopStep], day0: date, held_out: bool,
             states: list[int], customers: int) -> Schedule:
    """The plan of `customers` customers from the state of each of their steps."""
    messages, tasks = [], []
    for step, state in zip(steps, states):
        if state == NOT_WRITTEN:
            day = max(day0 + timedelta(days=step.day), ctx.today)  # past: due at once
            if step.action == "message" and held_out:
                continue  # the holdout group is enrolled but never messaged
        elif state >= OPEN_FROM:
            day = ctx.today + timedelta(days=state - OPEN_FROM)
        else:
            continue
        if step.action == "message":
            messages.append(Message(day, step.at_time))
        else:
            tasks.append(day)
    return Schedule(customers, tuple(messages), tuple(tasks))
