"""The preview's send calendar: what goes out per local day under the quota. Pure.

A customer receives at most `Quota.limit` messages per `Quota.period` (a local day,
an ISO week from Monday, or a calendar month; SPEC §5). Messages beyond it are
deferred, at the same local time, to the next day with room; on that day they
compete again with the day's own messages, earliest time first.

Customers with the same plan behave identically, so the caller passes one
`Schedule` per group of identical plans with the number of customers in it: the
work follows the number of distinct plans, not the number of customers.

Simplifications, said once: only the messages passed in count against the quota
(usage by other SOPs, journeys or earlier sends in the same period is not known
here), and a message deferred beyond the window simply leaves it.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

PERIODS = ("day", "week", "month")


@dataclass(frozen=True)
class Quota:
    limit: int = 1
    period: str = "day"

    def __post_init__(self):
        if self.limit < 1:
            raise ValueError("a quota limit is at least 1")
        if self.period not in PERIODS:
            raise ValueError(f"unknown quota period {self.period!r}")

    def period_of(self, day: date) -> tuple:
        if self.period == "week":
            iso = day.isocalendar()
            return (iso.year, iso.week)
        if self.period == "month":
            return (day.year, day.month)
        return (day,)


@dataclass(frozen=True, order=True)
class Message:
    """One message of a customer's plan: its local day and time ("HH:MM")."""

    day: date
    at: str = "00:00"


@dataclass(frozen=True)
class Schedule:
    """`customers` customers who each get these messages and tasks."""

    customers: int
    messages: tuple[Message, ...] = ()
    tasks: tuple[date, ...] = ()  # tasks are not messages: no quota


@dataclass
class Day:
    date: date
    messages: int = 0  # go out this day, after the quota
    tasks: int = 0
    deferred_by_quota: int = 0  # due this day (or carried into it), pushed to a later day

    def as_dict(self) -> dict:
        return {"date": self.date.isoformat(), "messages": self.messages, "tasks": self.tasks,
                "deferred_by_quota": self.deferred_by_quota}


def plan_customer(messages: Sequence[Message], quota: Quota, first: date,
                  last: date) -> tuple[Counter, Counter]:
    """One customer's messages day by day from `first` to `last` (inclusive).

    Returns (sent per day, deferred per day). A message dated before `first` is due
    at once, i.e. on `first`; one dated after `last` is outside the window.
    """
    waiting: dict[date, list[Message]] = {}
    for m in messages:
        waiting.setdefault(max(m.day, first), []).append(m)
    sent, deferred, used = Counter(), Counter(), Counter()
    day = first
    while day <= last:
        pool = sorted(waiting.pop(day, ()), key=lambda m: (m.at, m.day))
        if pool:
            period = quota.period_of(day)
            room = max(quota.limit - used[period], 0)
            go, stay = pool[:room], pool[room:]
            if go:
                used[period] += len(go)
                sent[day] += len(go)
            if stay:
                deferred[day] += len(stay)
                waiting.setdefault(_next_day_with_room(day, quota, used), []).extend(stay)
        day += timedelta(days=1)
    return sent, deferred


def _next_day_with_room(day: date, quota: Quota, used: Counter) -> date:
    """Later days of a full period have no room either; the next period starts empty."""
    period, nxt = quota.period_of(day), day + timedelta(days=1)
    while quota.period_of(nxt) == period and used[period] >= quota.limit:
        nxt += timedelta(days=1)
    return nxt


def send_calendar(schedules: Iterable[Schedule], quota: Quota, first: date,
                  days: int) -> list[Day]:
    """Per local day from `first`, for `days` days: messages, tasks, deferrals."""
    last = first + timedelta(days=days - 1)
    calendar = {first + timedelta(days=i): Day(first + timedelta(days=i)) for i in range(days)}

    @cache  # many groups share a plan
    def plan(messages: tuple[Message, ...]):
        return plan_customer(messages, quota, first, last)

    for schedule in schedules:
        if schedule.customers <= 0:
            continue
        sent, deferred = plan(tuple(sorted(schedule.messages)))
        for day, n in sent.items():
            calendar[day].messages += n * schedule.customers
        for day, n in deferred.items():
            calendar[day].deferred_by_quota += n * schedule.customers
        for day in schedule.tasks:
            due = max(day, first)
            if due <= last:
                calendar[due].tasks += schedule.customers
    return list(calendar.values())
