"""The figures of the journey data page, the quota calendar and the dashboard (SPEC §4,
§5): aggregate SQL, plain dataclasses, `visible` as in jobs/analytics.py."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo

from sqlalchemy import Select, and_, case, func, or_, select

from jobs.analytics import HOLDOUT_REASON, in_range, per_day, within
from jobs.core.buckets import day_edges
from jobs.core.due import local_date
from jobs.core.vocab import QUOTA_ACTIONS
from jobs.crm_rules import late
from jobs.counters import aligned, hour_of, hours_in
from models import (
    BudgetDay, Delivery, DeliveryCount, DeliveryHour, Employee, Journey, JourneyPlacement,
    PlacementHour, PlacementMove, Sop, Task,
)

STAGE_DAYS = 30  # customers per stage over time: the last 30 local days
MOVE_DAYS = 30  # stage-to-stage moves in the last 30 days


# --- journeys --------------------------------------------------------------------------------
@dataclass(frozen=True)
class StageCount:
    stage_id: int
    key: str
    name: str
    now: int  # customers in the stage now
    per_day: list[int]  # customers in it at the end of each local day (oldest first)


@dataclass(frozen=True)
class Move:
    source: str | None  # stage name; None = entered the journey
    target: str | None  # stage name; None = left the journey (no stage matches any more)
    customers: int


@dataclass(frozen=True)
class EmployeeReminders:
    employee: str
    written: int  # reminders due (written), cancelled ones left out
    handed: int  # put in the employee's inbox
    done: int  # marked sent by the employee
    expired: int

    @property
    def completion(self) -> float | None:
        return self.done / self.handed if self.handed else None


@dataclass(frozen=True)
class JourneyStats:
    days: list[date]
    stages: list[StageCount]
    moves: list[Move]
    employees: list[EmployeeReminders]


def journey_stats(session, journey: Journey, now: datetime, tz: tzinfo,
                  visible: Select | None = None) -> JourneyStats:
    first = local_date(now, tz) - timedelta(days=STAGE_DAYS - 1)
    days = [first + timedelta(days=i) for i in range(STAGE_DAYS)]
    ends = day_edges(first, STAGE_DAYS, tz)[1:]  # the end of each day
    ends[-1] = min(ends[-1], now)  # today: as of now
    if visible is None and aligned(day_edges(first, STAGE_DAYS, tz)):
        per_stage, now_counts = counted_stages(session, journey, ends)
    else:
        per_stage, now_counts = stage_rows(session, journey, ends, visible)
    stages = [StageCount(s.id, s.key, s.name, now_counts.get(s.id, 0),
                         [int(v or 0) for v in per_stage.get(s.id, [0] * STAGE_DAYS)])
              for s in journey.stages]
    names = {s.id: s.name for s in journey.stages}
    return JourneyStats(days, stages, moves(session, journey, now, names, visible),
                        reminders_by_employee(session, journey, visible))


def counted_stages(session, journey: Journey, ends: list[datetime]):
    """Customers per stage at each end (the last: now) and now, from placement_hours:
    in the stage at t = entered before t - left before t."""
    H = PlacementHour
    totals: dict[tuple[int, str], int] = {}
    for stage_id, measure, n in session.execute(
            select(H.stage_id, H.measure, func.sum(H.n)).where(H.journey_id == journey.id)
            .group_by(H.stage_id, H.measure)):
        totals[(stage_id, measure)] = int(n or 0)
    bounds = [hour_of(end) for end in ends[:-1]]
    after: dict[tuple[int, str], list[int]] = {}  # entered / left at or after each end
    for stage_id, measure, hour, n in session.execute(
            select(H.stage_id, H.measure, H.hour, func.sum(H.n))
            .where(H.journey_id == journey.id, H.hour >= bounds[0])
            .group_by(H.stage_id, H.measure, H.hour)):
        cell = after.setdefault((stage_id, measure), [0] * len(bounds))
        for i, bound in enumerate(bounds):
            if hour >= bound:
                cell[i] += int(n or 0)
    stage_ids = {k[0] for k in totals}
    now_counts = {s: totals.get((s, "entered"), 0) - totals.get((s, "left"), 0)
                  for s in stage_ids}
    per_stage = {}
    for s in stage_ids:
        entered = after.get((s, "entered"), [0] * len(bounds))
        left = after.get((s, "left"), [0] * len(bounds))
        per_stage[s] = [now_counts[s] - entered[i] + left[i] for i in range(len(bounds))]
        per_stage[s].append(now_counts[s])
    return per_stage, now_counts


def stage_rows(session, journey: Journey, ends: list[datetime], visible: Select | None):
    """The same from the placements themselves (a reader who sees only some customers)."""
    P = JourneyPlacement
    where = [P.journey_id == journey.id, *within(P.customer_id, visible)]
    open_at = [func.sum(case((and_(P.entered_at < end, or_(P.left_at.is_(None),
                                                            P.left_at >= end)), 1), else_=0))
               for end in ends]
    rows = {r[0]: r[1:] for r in session.execute(
        select(P.stage_id, *open_at).where(*where, P.entered_at < ends[-1],
                                            or_(P.left_at.is_(None), P.left_at >= ends[0]))
        .group_by(P.stage_id))}
    now_counts = dict(session.execute(
        select(P.stage_id, func.count()).where(*where, P.left_at.is_(None))
        .group_by(P.stage_id)).all())
    return rows, now_counts


def moves(session, journey: Journey, now: datetime, names: dict[int, str],
          visible: Select | None = None) -> list[Move]:
    """Stage-to-stage moves of the last MOVE_DAYS days: each placement entered since then
    with the stage the customer came from; and leaving the journey (no later placement).
    Whole hours from placement_moves for a reader who sees everyone; the rest (the first
    hour's part, or a scoped reader's customers) from the placements' own columns."""
    P, M = JourneyPlacement, PlacementMove
    since, until = now - timedelta(days=MOVE_DAYS), None
    counts: dict[tuple, int] = {}

    def add(source, target, n) -> None:
        key = (source or None, target or None)
        counts[key] = counts.get(key, 0) + int(n or 0)

    if visible is None:
        start = hour_of(since) + 1
        until = datetime.fromtimestamp(start * 3600, timezone.utc)
        for row in session.execute(
                select(M.from_stage, M.to_stage, func.sum(M.n))
                .where(M.journey_id == journey.id, M.hour >= start)
                .group_by(M.from_stage, M.to_stage)):
            add(*row)
    where = [P.journey_id == journey.id, *within(P.customer_id, visible)]
    before = [P.entered_at < until] if until else []
    for row in session.execute(
            select(P.came_from_stage_id, P.stage_id, func.count())
            .where(*where, P.entered_at >= since, *before)
            .group_by(P.came_from_stage_id, P.stage_id)):
        add(*row)
    before = [P.left_at < until] if until else []
    for stage_id, n in session.execute(
            select(P.stage_id, func.count())
            .where(*where, P.left_at >= since, *before, ~P.moved_on).group_by(P.stage_id)):
        add(stage_id, None, n)
    counts = {k: n for k, n in counts.items() if n}
    order = {stage_id: i for i, stage_id in enumerate(names)}
    ranked = sorted(counts.items(), key=lambda kv: (
        order.get(kv[0][0], -1), order.get(kv[0][1], len(order))))
    return [Move(names.get(s), names.get(t), n) for (s, t), n in ranked]


def reminders_by_employee(session, journey: Journey,
                          visible: Select | None = None) -> list[EmployeeReminders]:
    counts: dict[str, dict[str, int]] = {}
    if visible is None:
        C = DeliveryCount
        rows = session.execute(
            select(func.coalesce(Employee.name, ""), C.status, func.sum(C.n))
            .select_from(C).outerjoin(Employee, Employee.id == C.sender_id)
            .where(C.journey_id == journey.id, C.action == "reminder")
            .group_by(Employee.name, C.status))
    else:
        rows = session.execute(
            select(func.coalesce(Employee.name, ""), Delivery.status, func.count())
            .select_from(Delivery).outerjoin(Employee, Employee.id == Delivery.sender_id)
            .where(Delivery.journey_id == journey.id, Delivery.action == "reminder",
                   *within(Delivery.customer_id, visible))
            .group_by(Employee.name, Delivery.status))
    for name, status, n in rows:
        if n:
            counts.setdefault(name, {})[status] = counts.get(name, {}).get(status, 0) + int(n)
    out = []
    for name, c in sorted(counts.items()):
        out.append(EmployeeReminders(
            name, sum(c.values()) - c.get("cancelled", 0), c.get("queued", 0) + c.get("sent", 0),
            c.get("sent", 0), c.get("expired", 0)))
    return out


# --- the quota calendar ------------------------------------------------------------------------
@dataclass(frozen=True)
class QuotaDay:
    day: date
    planned: int  # messages and reminders due that day now (what is left of the plan)
    sent: int  # handed to the sender that day
    deferred: int  # deferred by the quota away from this, their first planned day
    budget_used: int  # charged to the enterprise's daily budget
    budget: int | None  # the daily budget; None = no budget


def quota_calendar(session, now: datetime, tz: tzinfo, budget: int | None,
                   back: int = 14, ahead: int = 14) -> list[QuotaDay]:
    """Per local day from `back` days ago to `ahead` days on (today included)."""
    today = local_date(now, tz)
    first, count = today - timedelta(days=back), back + ahead + 1
    edges = day_edges(first, count, tz)
    if aligned(edges):
        quota = DeliveryHour.action.in_(QUOTA_ACTIONS)
        planned = hours_in(session, "due", edges, quota, DeliveryHour.status != "cancelled",
                           DeliveryHour.holdout == 0)
        sent = hours_in(session, "queued", edges, quota)
        deferred = hours_in(session, "first_due", edges, quota)
    else:
        counted = [Delivery.action.in_(QUOTA_ACTIONS), Delivery.status != "cancelled",
                   or_(Delivery.reason.is_(None), Delivery.reason != HOLDOUT_REASON)]
        quota = [Delivery.action.in_(QUOTA_ACTIONS)]
        planned = per_day(session, Delivery.due_at, counted, edges)
        sent = per_day(session, Delivery.queued_at, quota, edges)
        deferred = per_day(session, Delivery.first_due_at, quota, edges)
    used = dict(session.execute(select(BudgetDay.day, BudgetDay.used).where(
        BudgetDay.day.between(first, first + timedelta(days=count - 1)))).all())
    return [QuotaDay(first + timedelta(days=i), planned[i], sent[i], deferred[i],
                     used.get(first + timedelta(days=i), 0), budget) for i in range(count)]


# --- the dashboard ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dashboard:
    running_sops: int
    sent_today: int  # deliveries handed to the sender today
    deferred: int  # deliveries waiting for room under the quota now
    failed_week: int  # deliveries due in the last 7 days that failed
    overdue_tasks: int
    held: int  # deliveries held: the customer has no active owner


def overdue(now: datetime, tz: tzinfo):
    """Open tasks that are late (jobs.crm_rules.late: the inbox's "overdue")."""
    return and_(Task.status == "open", late(now, tz))


def dashboard(session, now: datetime, tz: tzinfo, visible: Select | None = None,
              task_scope=None) -> Dashboard:
    """`task_scope(select)` narrows tasks to the reader's (None: every task)."""
    today = day_edges(local_date(now, tz), 1, tz)
    week = day_edges(local_date(now, tz) - timedelta(days=6), 7, tz)
    seen = within(Delivery.customer_id, visible)

    def deliveries(*where) -> int:  # messages and reminders: what the quota counts
        return session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.action.in_(QUOTA_ACTIONS), *seen, *where))

    tasks = select(func.count()).select_from(Task).where(overdue(now, tz))
    if visible is None and aligned(today + week):
        return counted_dashboard(session, today, week, session.scalar(
            task_scope(tasks) if task_scope else tasks))
    return Dashboard(
        running_sops=session.scalar(select(func.count()).select_from(Sop)
                                    .where(Sop.status == "running")),
        sent_today=deliveries(*in_range(Delivery.queued_at, today)),
        deferred=deliveries(Delivery.status == "deferred"),
        failed_week=deliveries(Delivery.status == "failed", *in_range(Delivery.due_at, week)),
        overdue_tasks=session.scalar(task_scope(tasks) if task_scope else tasks),
        held=deliveries(Delivery.held_since.is_not(None),
                        Delivery.status.in_(("pending", "deferred"))),
    )


def counted_dashboard(session, today: list[datetime], week: list[datetime],
                      overdue_tasks: int) -> Dashboard:
    """The dashboard from the counters (a reader who sees every customer)."""
    C, quota = DeliveryCount, DeliveryCount.action.in_(QUOTA_ACTIONS)

    def statuses(*where) -> int:
        return int(session.scalar(select(func.coalesce(func.sum(C.n), 0)).where(quota, *where)))

    return Dashboard(
        running_sops=session.scalar(select(func.count()).select_from(Sop)
                                    .where(Sop.status == "running")),
        sent_today=hours_in(session, "queued", today, DeliveryHour.action.in_(QUOTA_ACTIONS))[0],
        deferred=statuses(C.status == "deferred"),
        failed_week=sum(hours_in(session, "due", week, DeliveryHour.status == "failed",
                                 DeliveryHour.action.in_(QUOTA_ACTIONS))),
        overdue_tasks=overdue_tasks,
        held=statuses(C.held == 1, C.status.in_(("pending", "deferred"))),
    )


def sent_per_day(session, now: datetime, tz: tzinfo, days: int,
                 visible: Select | None = None) -> list[tuple[date, int]]:
    first = local_date(now, tz) - timedelta(days=days - 1)
    edges = day_edges(first, days, tz)
    if visible is None and aligned(edges):
        counts = hours_in(session, "queued", edges, DeliveryHour.action.in_(QUOTA_ACTIONS))
    else:
        counts = per_day(session, Delivery.queued_at, [Delivery.action.in_(QUOTA_ACTIONS),
                                                       *within(Delivery.customer_id, visible)],
                         edges)
    return [(first + timedelta(days=i), n) for i, n in enumerate(counts)]

