"""The quota planner (SPEC §5). Pure: candidates and the ledger in, decisions out.

A customer receives at most `limit` enterprise messages per `period` (local day,
week from Monday, or calendar month), every SOP push and journey reminder counted
together, within an optional enterprise budget per local day. The planner sees a
day's candidates together, so priority decides and not which tick came first:
the higher SOP priority wins, then the earlier due, then the older delivery.
What does not fit is deferred to the same local time on the next day with room;
what would then be more than `max_lateness_days` late is expired, with the reason.
Deferring reserves nothing: on that day the delivery competes again.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class QuotaRule:
    limit: int = 1
    period: str = "day"  # day | week | month
    daily_budget: int | None = None  # messages per local day for the whole enterprise
    max_lateness_days: int = 3


@dataclass(frozen=True)
class Candidate:
    id: int
    customer_id: int
    priority: int  # the SOP's; journey reminders plan at 0
    due_at: datetime  # aware; the current due time (a deferral moved it)
    first_due_at: datetime  # lateness is measured from the first due time


@dataclass(frozen=True)
class Decision:
    id: int
    verdict: str  # send | defer | expire
    period: date | None = None  # the ledger period charged (send)
    day: date | None = None  # the local day charged against the budget (send)
    due_at: datetime | None = None  # the new due time (defer)
    reason: str | None = None


def period_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def same_time_on(moment: datetime, day: date, tz: ZoneInfo) -> datetime:
    """`moment`'s local wall time on `day`, back in UTC."""
    local = moment.astimezone(tz)
    return datetime.combine(day, local.timetz().replace(tzinfo=None), tz).astimezone(timezone.utc)


class _Room:
    """What the ledger and the budget still allow, updated as the planner charges."""

    def __init__(self, rule: QuotaRule, used: Mapping, budget_used: Mapping):
        self.rule = rule
        self.used = Counter(used)
        self.budget_used = Counter(budget_used)

    def has_room(self, customer_id: int, day: date) -> bool:
        if self.used[(customer_id, period_start(day, self.rule.period))] >= self.rule.limit:
            return False
        return self.rule.daily_budget is None or self.budget_used[day] < self.rule.daily_budget

    def charge(self, customer_id: int, day: date) -> date:
        period = period_start(day, self.rule.period)
        self.used[(customer_id, period)] += 1
        self.budget_used[day] += 1
        return period


def plan(candidates: Iterable[Candidate], *, rule: QuotaRule, tz: ZoneInfo, today: date,
         used: Mapping[tuple[int, date], int], budget_used: Mapping[date, int]) -> list[Decision]:
    """Decide every candidate due by the end of `today` (local).

    `used` is the ledger: (customer id, period start) -> messages charged;
    `budget_used` is local day -> messages charged for the enterprise.
    """
    room = _Room(rule, used, budget_used)
    decisions = []
    for c in sorted(candidates, key=lambda c: (-c.priority, c.due_at, c.id)):
        first_day = local_day(c.first_due_at, tz)
        last_day = first_day + timedelta(days=rule.max_lateness_days)
        day = max(local_day(c.due_at, tz), today)  # overdue ones go out today, if at all
        if day > last_day:
            decisions.append(Decision(c.id, "expire", reason=(
                f"more than {rule.max_lateness_days} days late")))
            continue
        fit = next((d for d in _days(day, last_day) if room.has_room(c.customer_id, d)), None)
        if fit is None:
            decisions.append(Decision(c.id, "expire", reason=(
                f"no room under the quota within {rule.max_lateness_days} days")))
        elif fit == day:
            decisions.append(Decision(c.id, "send", period=room.charge(c.customer_id, day),
                                      day=day))
        else:
            why = ("enterprise daily budget reached" if rule.daily_budget is not None
                   and room.budget_used[day] >= rule.daily_budget
                   else f"quota: {rule.limit} per {rule.period} reached")
            decisions.append(Decision(c.id, "defer", due_at=same_time_on(c.due_at, fit, tz),
                                      reason=why))
    return decisions


def _days(first: date, last: date):
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def simulate(candidates: Iterable[Candidate], *, rule: QuotaRule, tz: ZoneInfo, today: date,
             used: Mapping[tuple[int, date], int], budget_used: Mapping[date, int],
             ) -> dict[int, tuple[str, date | None]]:
    """What the planner will decide, day after day from `today`, for candidates due on
    any day: id -> (verdict, local day it is sent) with verdict send | expire. Each
    day plans what is due by its end together, as the tick does; what it defers comes
    back the next day. Nothing is written (the preview of a group send)."""
    room_used, room_budget = Counter(used), Counter(budget_used)
    waiting = {c.id: c for c in candidates}
    outcome: dict[int, tuple[str, date | None]] = {}
    day = today
    while waiting:
        due = [c for c in waiting.values() if local_day(c.due_at, tz) <= day]
        for d in plan(due, rule=rule, tz=tz, today=day, used=room_used,
                      budget_used=room_budget):
            c = waiting[d.id]
            if d.verdict == "send":
                room_used[(c.customer_id, d.period)] += 1
                room_budget[d.day] += 1
                outcome[d.id] = ("send", d.day)
                del waiting[d.id]
            elif d.verdict == "expire":
                outcome[d.id] = ("expire", None)
                del waiting[d.id]
            else:
                waiting[d.id] = Candidate(c.id, c.customer_id, c.priority, d.due_at,
                                          c.first_due_at)
        day = min((max(local_day(c.due_at, tz), day + timedelta(days=1))
                   for c in waiting.values()), default=day)
    return outcome
