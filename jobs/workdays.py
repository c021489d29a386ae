"""Is this a working day in mainland China? The work calendar (settings.calendar,
SPEC §10) decides: a date listed in `calendar_days` wins — a holiday is off, a
make-up workday (调休) is on —, else the maintained `chinesecalendar` package where
it knows the year, else Monday to Friday (logged once per year).

The table is filled from `chinesecalendar` for the years it knows (`fill_from_package`,
idempotent: on first use and with `flask sop calendar fill`), so the admin screen shows
the official days and ops can add the next year's as soon as they are announced.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from functools import lru_cache

import chinese_calendar
from chinese_calendar import constants
from sqlalchemy import select

from jobs.core.workdays import work_calendar, years_without_holidays
from models import CalendarDay

log = logging.getLogger(__name__)


@lru_cache(maxsize=4096)
def builtin_is_workday(day: date) -> bool | None:
    """The package's answer, or None for a year it does not know."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        _warn_unknown_year(day.year)
        return None


#: The built-in calendar alone (no database): the package, else Monday to Friday.
is_workday = work_calendar({}, builtin_is_workday)


@lru_cache(maxsize=64)
def _warn_unknown_year(year: int) -> None:
    log.warning("chinesecalendar has no holidays for %s yet: counting Monday-Friday", year)


def package_days() -> list[tuple[date, str, str | None]]:
    """(date, kind, note) of every holiday (weekend days of a break too) and make-up
    working day the package knows, in date order."""
    days = [(d, "holiday", _note(n)) for d, n in constants.holidays.items()]
    days += [(d, "workday", _note(n)) for d, n in constants.workdays.items()]
    return sorted(days)


# the package names its holidays in English; the calendar is read in Chinese
HOLIDAY_NAMES = {"New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节",
                 "Labour Day": "劳动节", "Dragon Boat Festival": "端午节", "National Day": "国庆节",
                 "Mid-autumn Festival": "中秋节", "Anti-Fascist 70th Day": "抗战胜利70周年纪念日"}


def _note(name) -> str | None:
    if not name:
        return None
    text = str(getattr(name, "value", name))
    return HOLIDAY_NAMES.get(text, text)[:100]


def fill_from_package(session) -> int:
    """Insert the package's days that are not in the table yet; entered days are kept.
    Returns how many rows were added (0 the second time)."""
    have = set(session.scalars(select(CalendarDay.day)))
    rows = [CalendarDay(day=d, kind=kind, note=note, source="chinesecalendar")
            for d, kind, note in package_days() if d not in have]
    session.add_all(rows)
    session.flush()
    return len(rows)


def ensure_filled(session) -> None:
    """On first use: fill from the package once (a table with its rows is left alone)."""
    if session.scalar(select(CalendarDay.id).where(
            CalendarDay.source == "chinesecalendar").limit(1)) is None:
        fill_from_package(session)


def calendar_for(session) -> Callable[[date], bool]:
    """`is_workday` by the work calendar in the database."""
    ensure_filled(session)
    listed = dict(session.execute(select(CalendarDay.day, CalendarDay.kind)).all())
    return work_calendar(listed, builtin_is_workday)


def missing_holiday_years(session, today: date) -> list[int]:
    """This year and the coming one, those with no holiday entered and unknown to the
    package (the dashboard warns: deadlines would count Monday to Friday). Read-only."""
    years = [y for y in (today.year, today.year + 1)
             if builtin_is_workday(date(y, 1, 1)) is None]
    if not years:
        return []
    holidays = session.scalars(select(CalendarDay.day).where(
        CalendarDay.kind == "holiday", CalendarDay.day >= date(years[0], 1, 1),
        CalendarDay.day <= date(years[-1], 12, 31)))
    return years_without_holidays(years, holidays)
