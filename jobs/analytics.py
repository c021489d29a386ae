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

from bisect import bisect_right

from sqlalchemy import ColumnElement, Select, case, func, literal, select

from jobs.core.buckets import day_edges, week_edges
from jobs.core.due import local_date
from jobs.core.effect import Lift, Rate, lift, rate
from jobs.core.vocab import DELIVERY_STATUSES, DONE_DELIVERY_STATUSES, ENROLLMENT_STATUSES
from jobs.counters import aligned, decided_conversions, hour_of, hours_in, ordered_within
from models import Customer, Delivery, DeliveryCount, DeliveryHour, Enrollment, Sop

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
    counts: dict[int, dict[str, int]] = {
        s.position: dict.fromkeys(DELIVERY_STATUSES, 0) for s in sop.steps}
    held: dict[int, int] = {}
    for position, status, holdout, n in funnel_rows(session, sop, visible):
        if n:
            counts.setdefault(position, dict.fromkeys(DELIVERY_STATUSES, 0))[status] += n
            if holdout and status == "skipped":
                held[position] = held.get(position, 0) + n
    labels = {s.position: str(s) for s in sop.steps}
    return [StepFunnel(p, labels.get(p, f"#{p + 1}"), counts[p], held.get(p, 0))
            for p in sorted(counts)]


def funnel_rows(session, sop: Sop, visible: Select | None):
    """(position, status, holdout?, deliveries): the counters for every reader who
    sees every customer, the rows for a scoped one."""
    if visible is None:
        C = DeliveryCount
        return session.execute(
            select(C.position, C.status, C.holdout, func.sum(C.n)).where(C.sop_id == sop.id)
            .group_by(C.position, C.status, C.holdout)).all()
    holdout = case((Delivery.reason == HOLDOUT_REASON, 1), else_=0)
    return session.execute(
        select(Delivery.position, Delivery.status, holdout, func.count())
        .where(Delivery.sop_id == sop.id, *within(Delivery.customer_id, visible))
        .group_by(Delivery.position, Delivery.status, holdout)).all()


def sends_per_day(session, sop: Sop, now: datetime, tz: tzinfo, days: int = SEND_DAYS,
                  visible: Select | None = None) -> list[DaySends]:
    """Message deliveries handed over and confirmed per local day, oldest first."""
    first = local_date(now, tz) - timedelta(days=days - 1)
    edges = day_edges(first, days, tz)
    if visible is not None or not aligned(edges):
        return origin_sends_per_day(session, Delivery.sop_id == sop.id, now, tz, days, visible)
    # Whole-hour edges and no row filter: the hourly counters answer without a scan.
    mine = (DeliveryHour.sop_id == sop.id, DeliveryHour.action == "message")
    handed = hours_in(session, "queued", edges, *mine)
    confirmed = hours_in(session, "sent", edges, *mine)
    return [DaySends(first + timedelta(days=i), handed[i], confirmed[i]) for i in range(days)]


def origin_sends_per_day(session, origin: ColumnElement[bool], now: datetime, tz: tzinfo,
                         days: int = SEND_DAYS, visible: Select | None = None) -> list[DaySends]:
    """`sends_per_day` from the rows, for the deliveries `origin` selects (an SOP's, a group
    send's)."""
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
    first, last = session.execute(
        select(func.min(Enrollment.enrolled_at), func.max(Enrollment.enrolled_at))
        .where(*where)).one()
    if first is None:
        return Conversion(days, sop.holdout_percent, cohort(None, {}))
    last_day = local_date(last, tz)
    first_day = max(local_date(first, tz), last_day - timedelta(weeks=CONVERSION_WEEKS - 1))
    mondays, edges = week_edges(first_day, last_day, tz)
    # decided windows come from the counters; the rows only for the open ones
    counted = visible is None and aligned(edges)
    live = [*where, Enrollment.converted.is_(None)] if counted else where
    cells = ConversionCells()
    for holdout, w, n, conv, open_ in undecided(session, sop, now, edges, live):
        cells.add(bool(holdout), w, n, conv or 0, open_ or 0)
    if counted:
        bounds = [hour_of(e) for e in edges]
        for hour, holdout, converted, n in decided_conversions(session, sop.id):
            w = bisect_right(bounds, hour) - 1
            cells.add(bool(holdout), w if 0 <= w < len(mondays) else -1, n,
                      n if converted else 0, 0)
    return Conversion(
        days, sop.holdout_percent, cohort(None, cells.overall()),
        [cohort(mondays[w], cells.week(w)) for w in sorted(cells.weeks)])


class ConversionCells:
    """holdout? -> [entrants, converted, window open], overall and per week index."""

    def __init__(self):
        self.all: dict[bool, list[int]] = {}
        self.weeks: dict[int, dict[bool, list[int]]] = {}

    def add(self, holdout: bool, w: int, *values: int) -> None:
        targets = [self.all.setdefault(holdout, [0, 0, 0])]
        if w >= 0:
            targets.append(self.weeks.setdefault(w, {}).setdefault(holdout, [0, 0, 0]))
        for cell in targets:
            for i, v in enumerate(values):
                cell[i] += int(v)

    def overall(self) -> dict[bool, tuple[int, int, int]]:
        return {k: tuple(v) for k, v in self.all.items()}

    def week(self, w: int) -> dict[bool, tuple[int, int, int]]:
        return {k: tuple(v) for k, v in self.weeks[w].items()}


def undecided(session, sop: Sop, now: datetime, edges: list[datetime], where: list):
    """(holdout, week index or -1, entrants, converted, window open) from the rows."""
    days = sop.conversion_days
    converted = func.sum(case((ordered_within(session, days), 1), else_=0))
    still_open = func.sum(case((Enrollment.enrolled_at > now - timedelta(days=days), 1),
                               else_=0))
    week = bucket(Enrollment.enrolled_at, edges)
    in_weeks = Enrollment.enrolled_at >= edges[0]
    return session.execute(
        select(Enrollment.holdout, case((in_weeks, week), else_=literal(-1)).label("w"),
               func.count(), converted, still_open)
        .where(*where).group_by(Enrollment.holdout, "w")).all()


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
