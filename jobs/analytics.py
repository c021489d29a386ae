"""The figures of an SOP's data page (数据, SPEC §3 效果分析): totals, the step funnel,
sends per day, the customer list and the N-day conversion with its holdout lift.

Aggregate SQL over indexed columns (GROUP BY, CASE buckets for local days), nothing
per customer in Python. Each function takes the session, the SOP, `now` and
`visible`: a SELECT of the customer ids the reader may see (SPEC §7), or None for
all; it returns plain dataclasses, which the admin page, the REST endpoint
(`GET /sops/<key>/stats`) and the tests read alike.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy import ColumnElement, Interval, Select, case, exists, func, literal, select

from jobs.core.buckets import day_edges, week_edges
from jobs.core.due import local_date
from jobs.core.effect import Lift, Rate, lift, rate
from jobs.core.vocab import DELIVERY_STATUSES, DONE_DELIVERY_STATUSES, ENROLLMENT_STATUSES
from models import Customer, Delivery, Enrollment, Order, Sop

SEND_DAYS = 30  # the sends chart: the last 30 local days
CONVERSION_WEEKS = 26  # per entry week: the latest 26 weeks (overall counts every entrant)
LIST_SIZE = 20  # the customer list on the data page; the full list is the enrollments screen
HOLDOUT_REASON = "holdout"
# a step is reached once its delivery is handed over or final; a cancelled one was not
REACHED = tuple(s for s in DONE_DELIVERY_STATUSES if s != "cancelled")


# --- shared SQL pieces ------------------------------------------------------------------
def within(column, visible: Select | None) -> list[ColumnElement[bool]]:
    """A WHERE clause keeping rows about customers the reader may see."""
    return [] if visible is None else [column.in_(visible)]


def bucket(column, edges: list[datetime]) -> ColumnElement[int]:
    """The index i of [edges[i], edges[i+1]) holding `column` (rows outside are the
    caller's WHERE's to drop); a CASE, so it runs the same on SQLite and PostgreSQL."""
    return case(*[(column < edge, literal(i)) for i, edge in enumerate(edges[1:])],
                else_=literal(len(edges) - 1))


def in_range(column, edges: list[datetime]) -> list[ColumnElement[bool]]:
    return [column >= edges[0], column < edges[-1]]


def plus_days(session, column, days: int) -> ColumnElement:
    """`column` + `days` days, in the database (SQLite keeps datetimes as text)."""
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:%M:%f", column, f"+{int(days)} days")
    return column + literal(timedelta(days=days), Interval())


def per_day(session, column, where: list, edges: list[datetime]) -> list[int]:
    """How many rows fall on each local day [edges[i], edges[i+1])."""
    b = bucket(column, edges).label("b")
    counts = dict(session.execute(
        select(b, func.count()).where(*where, *in_range(column, edges)).group_by("b")).all())
    return [counts.get(i, 0) for i in range(len(edges) - 1)]


# --- results ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Totals:
    entered: int
    active: int
    ended_early: int
    completed: int
    ended_manual: int
    holdout: int  # of the entered, how many are in the holdout group


@dataclass(frozen=True)
class StepFunnel:
    position: int  # 0-based, as deliveries report it
    label: str  # "day 5 10:00 message", or the position of a deleted step
    counts: dict[str, int]  # delivery status -> deliveries (skipped includes holdout)
    holdout: int  # skipped because the customer is in the holdout group

    @property
    def due(self) -> int:
        """Every delivery written for the step (its day has come)."""
        return sum(self.counts.values())


@dataclass(frozen=True)
class DaySends:
    day: date
    handed: int  # handed to the sender (queued) that day
    confirmed: int  # confirmed sent that day


@dataclass(frozen=True)
class Cohort:
    week: date | None  # the Monday of the entry week; None for "every entrant"
    everyone: Rate
    messaged: Rate
    holdout: Rate
    lift: Lift
    window_open: int  # entrants whose N days are not over yet (they may still order)


@dataclass(frozen=True)
class Conversion:
    days: int
    holdout_percent: int
    overall: Cohort
    weeks: list[Cohort] = field(default_factory=list)


@dataclass(frozen=True)
class CustomerRow:
    enrollment_id: int
    customer_id: int
    name: str
    external_id: str
    status: str
    holdout: bool
    enrolled_at: datetime
    last_step: int | None  # position of the last step reached (handed over or final)


@dataclass(frozen=True)
class SopStats:
    totals: Totals
    funnel: list[StepFunnel]
    sends: list[DaySends]
    conversion: Conversion


# --- queries ---------------------------------------------------------------------------------
def totals(session, sop: Sop, visible: Select | None = None) -> Totals:
    where = [Enrollment.sop_id == sop.id, *within(Enrollment.customer_id, visible)]
    by_status = dict.fromkeys(ENROLLMENT_STATUSES, 0)
    held = 0
    for status, holdout, n in session.execute(
            select(Enrollment.status, Enrollment.holdout, func.count()).where(*where)
            .group_by(Enrollment.status, Enrollment.holdout)):
        by_status[status] += n
        held += n if holdout else 0
    return Totals(entered=sum(by_status.values()), holdout=held, **by_status)


def funnel(session, sop: Sop, visible: Select | None = None) -> list[StepFunnel]:
    """One row per step position (steps of the SOP now, and deleted ones that wrote)."""
    where = [Delivery.sop_id == sop.id, *within(Delivery.customer_id, visible)]
    counts: dict[int, dict[str, int]] = {
        s.position: dict.fromkeys(DELIVERY_STATUSES, 0) for s in sop.steps}
    for position, status, n in session.execute(
            select(Delivery.position, Delivery.status, func.count()).where(*where)
            .group_by(Delivery.position, Delivery.status)):
        counts.setdefault(position, dict.fromkeys(DELIVERY_STATUSES, 0))[status] = n
    held = dict(session.execute(
        select(Delivery.position, func.count())
        .where(*where, Delivery.status == "skipped", Delivery.reason == HOLDOUT_REASON)
        .group_by(Delivery.position)).all())
    labels = {s.position: str(s) for s in sop.steps}
    return [StepFunnel(p, labels.get(p, f"#{p + 1}"), counts[p], held.get(p, 0))
            for p in sorted(counts)]


def sends_per_day(session, sop: Sop, now: datetime, tz: tzinfo, days: int = SEND_DAYS,
                  visible: Select | None = None) -> list[DaySends]:
    """Message deliveries handed over and confirmed per local day, oldest first."""
    return origin_sends_per_day(session, Delivery.sop_id == sop.id, now, tz, days, visible)


def origin_sends_per_day(session, origin: ColumnElement[bool], now: datetime, tz: tzinfo,
                         days: int = SEND_DAYS, visible: Select | None = None) -> list[DaySends]:
    """`sends_per_day` for the deliveries `origin` selects (an SOP's, a group send's)."""
    first = local_date(now, tz) - timedelta(days=days - 1)
    edges = day_edges(first, days, tz)
    where = [origin, Delivery.action == "message", *within(Delivery.customer_id, visible)]
    handed = per_day(session, Delivery.queued_at, where, edges)
    confirmed = per_day(session, Delivery.sent_at, where, edges)
    return [DaySends(first + timedelta(days=i), handed[i], confirmed[i]) for i in range(days)]


def cohort(week: date | None, cells: dict[bool, tuple[int, int, int]]) -> Cohort:
    """`cells`: holdout? -> (entrants, converted, window still open)."""
    messaged, held = cells.get(False, (0, 0, 0)), cells.get(True, (0, 0, 0))
    m, h = rate(messaged[1], messaged[0]), rate(held[1], held[0])
    return Cohort(week, rate(messaged[1] + held[1], messaged[0] + held[0]), m, h, lift(m, h),
                  messaged[2] + held[2])


def conversion(session, sop: Sop, now: datetime, tz: tzinfo,
               visible: Select | None = None) -> Conversion:
    """下单率: entrants with an order in [enrolled, enrolled + N days), overall and per
    entry week, split messaged / holdout, with the lift of the messaged group."""
    days = sop.conversion_days
    where = [Enrollment.sop_id == sop.id, *within(Enrollment.customer_id, visible)]
    ordered = exists().where(
        Order.customer_id == Enrollment.customer_id, Order.placed_at >= Enrollment.enrolled_at,
        Order.placed_at < plus_days(session, Enrollment.enrolled_at, days))
    converted = func.sum(case((ordered, 1), else_=0))
    still_open = func.sum(case((Enrollment.enrolled_at > now - timedelta(days=days), 1),
                               else_=0))
    first, last = session.execute(
        select(func.min(Enrollment.enrolled_at), func.max(Enrollment.enrolled_at))
        .where(*where)).one()
    empty = Conversion(days, sop.holdout_percent, cohort(None, {}))
    if first is None:
        return empty
    last_day = local_date(last, tz)
    first_day = max(local_date(first, tz), last_day - timedelta(weeks=CONVERSION_WEEKS - 1))
    mondays, edges = week_edges(first_day, last_day, tz)
    week = bucket(Enrollment.enrolled_at, edges)
    in_weeks = Enrollment.enrolled_at >= edges[0]
    all_cells: dict[bool, list[int]] = {}
    week_cells: dict[int, dict[bool, tuple[int, int, int]]] = {}
    rows = session.execute(
        select(Enrollment.holdout, case((in_weeks, week), else_=literal(-1)).label("w"),
               func.count(), converted, still_open)
        .where(*where).group_by(Enrollment.holdout, "w")).all()
    for holdout, w, n, conv, open_ in rows:
        cell = all_cells.setdefault(bool(holdout), [0, 0, 0])
        for i, v in enumerate((n, conv or 0, open_ or 0)):
            cell[i] += v
        if w >= 0:
            week_cells.setdefault(w, {})[bool(holdout)] = (n, conv or 0, open_ or 0)
    return Conversion(
        days, sop.holdout_percent,
        cohort(None, {k: tuple(v) for k, v in all_cells.items()}),
        [cohort(mondays[w], week_cells[w]) for w in sorted(week_cells)])


def customers(session, sop: Sop, status: str | None = None, limit: int = LIST_SIZE,
              visible: Select | None = None) -> list[CustomerRow]:
    """The latest entrants (optionally of one status) with the last step done."""
    query = (select(Enrollment.id, Enrollment.customer_id, Customer.name, Customer.external_id,
                    Enrollment.status, Enrollment.holdout, Enrollment.enrolled_at)
             .join(Customer, Customer.id == Enrollment.customer_id)
             .where(Enrollment.sop_id == sop.id, *within(Enrollment.customer_id, visible))
             .order_by(Enrollment.enrolled_at.desc(), Enrollment.id.desc()).limit(limit))
    if status:
        query = query.where(Enrollment.status == status)
    rows = session.execute(query).all()
    last = last_steps(session, [r.id for r in rows])
    return [CustomerRow(*r, last_step=last.get(r.id)) for r in rows]


def last_steps(session, enrollment_ids: list[int]) -> dict[int, int]:
    """Enrollment id -> position of the last step it reached (one query for a page)."""
    if not enrollment_ids:
        return {}
    return dict(session.execute(
        select(Delivery.enrollment_id, func.max(Delivery.position))
        .where(Delivery.enrollment_id.in_(enrollment_ids),
               Delivery.status.in_(REACHED))
        .group_by(Delivery.enrollment_id)).all())


def sop_stats(session, sop: Sop, now: datetime, tz: tzinfo,
              visible: Select | None = None) -> SopStats:
    return SopStats(totals(session, sop, visible), funnel(session, sop, visible),
                    sends_per_day(session, sop, now, tz, visible=visible),
                    conversion(session, sop, now, tz, visible))
