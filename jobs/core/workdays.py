"""Deadlines in working days (SPEC §6: a new record is reviewed within 1 working day). Pure.

A working day is whatever `is_workday(date)` says: the caller passes the Chinese
calendar (public holidays off, make-up weekend days on; jobs/workdays.py). The
clock only runs on working days: N working days after a moment on a working day
is the same time of day on the N-th working day after it; a moment on a day off
starts counting at the next working day's midnight, so a record added on a
Saturday before a working Monday is due at the end of Monday.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time, timedelta

MAX_DAYS_OFF = 60  # no calendar has a longer break; guards against a predicate never true


def next_workday(day: date, is_workday: Callable[[date], bool]) -> date:
    """The first working day after `day`."""
    for step in range(1, MAX_DAYS_OFF + 1):
        candidate = day + timedelta(days=step)
        if is_workday(candidate):
            return candidate
    raise ValueError(f"no working day within {MAX_DAYS_OFF} days after {day}")


def add_working_days(start: datetime, days: int, is_workday: Callable[[date], bool]) -> datetime:
    """`start` (a local, aware or naive time) plus `days` working days, in the same zone."""
    if days < 0:
        raise ValueError("days must be ≥ 0")
    day, at = start.date(), start.timetz()
    if not is_workday(day):  # counting starts at the next working day's midnight
        day = next_workday(day, is_workday)
        at = time(0, tzinfo=start.tzinfo)
    for _ in range(days):
        day = next_workday(day, is_workday)
    return datetime.combine(day, at)


def work_calendar(listed: Mapping[date, str],
                  builtin: Callable[[date], bool | None]) -> Callable[[date], bool]:
    """`is_workday` for the work calendar (SPEC §10): a listed date wins (`holiday` is
    off, `workday` is on); else the built-in calendar where it knows the year (it
    answers None where it does not); else Monday to Friday."""
    def is_workday(day: date) -> bool:
        kind = listed.get(day)
        if kind is not None:
            return kind == "workday"
        known = builtin(day)
        return day.weekday() < 5 if known is None else known
    return is_workday


def years_without_holidays(years: Iterable[int], holiday_days: Iterable[date]) -> list[int]:
    """The years among `years` for which not one holiday is entered."""
    covered = {d.year for d in holiday_days}
    return [y for y in years if y not in covered]
