"""Is this a working day in mainland China? Public holidays are off, the weekend days
moved to make up for them (调休) are on — from the maintained `chinesecalendar` package.

Its tables cover the years the State Council has announced; for a year it does not
know yet, Monday to Friday are working days (logged once per year), so deadlines
never fail for want of a calendar.
"""
from __future__ import annotations

import logging
from datetime import date
from functools import lru_cache

import chinese_calendar

log = logging.getLogger(__name__)


@lru_cache(maxsize=4096)
def is_workday(day: date) -> bool:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        _warn_unknown_year(day.year)
        return day.weekday() < 5


@lru_cache(maxsize=64)
def _warn_unknown_year(year: int) -> None:
    log.warning("chinesecalendar has no holidays for %s yet: counting Monday-Friday", year)
