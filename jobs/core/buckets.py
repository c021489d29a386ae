"""Local days and weeks as UTC edges, so data pages group times in SQL on any database.

A bucket is [edges[i], edges[i+1]); the edges are local midnights in the enterprise
zone turned into UTC, so a day stays a local day across daylight-saving changes.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone, tzinfo


def midnight(day: date, tz: tzinfo) -> datetime:
    """Local midnight of `day` as a UTC instant."""
    return datetime.combine(day, time(), tz).astimezone(timezone.utc)


def day_edges(first: date, days: int, tz: tzinfo) -> list[datetime]:
    """`days + 1` UTC instants: the local midnights from `first` on."""
    return [midnight(first + timedelta(days=i), tz) for i in range(days + 1)]


def week_start(day: date) -> date:
    """The Monday of the week holding `day`."""
    return day - timedelta(days=day.weekday())


def week_edges(first: date, last: date, tz: tzinfo) -> tuple[list[date], list[datetime]]:
    """The Mondays of the weeks from `first` to `last` and their UTC edges (one more)."""
    mondays = []
    monday = week_start(first)
    while monday <= last:
        mondays.append(monday)
        monday += timedelta(days=7)
    return mondays, [midnight(m, tz) for m in mondays + [monday]]
