"""`settings.calendar` in config as code: the entered (manual) work-calendar days.

Export lists the days entered by hand or by import — the days filled from
`chinesecalendar` come back by themselves. Import makes the manual days exactly
the listed ones (a day the package also knows takes the listed kind; a manual day
no longer listed goes, and the package's day comes back if it had one).
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.core.rules_catalog import parse_day
from jobs.workdays import fill_from_package
from models import CalendarDay

KINDS = {"holidays": "holiday", "workdays": "workday"}


def calendar_to_dict(session: Session) -> dict:
    rows = session.scalars(select(CalendarDay).where(CalendarDay.source == "manual")
                           .order_by(CalendarDay.day)).all()
    return {section: [r.day.isoformat() for r in rows if r.kind == kind]
            for section, kind in KINDS.items() if any(r.kind == kind for r in rows)}


def apply_calendar(session: Session, cal: dict) -> None:
    wanted = {parse_day(value): kind for section, kind in KINDS.items()
              for value in cal.get(section) or []}
    rows = {r.day: r for r in session.scalars(
        select(CalendarDay).where(CalendarDay.day.in_(list(wanted))))}
    for day, kind in wanted.items():
        row = rows.get(day) or CalendarDay(day=day)
        row.kind, row.source = kind, "manual"
        session.add(row)
    for row in session.scalars(select(CalendarDay).where(
            CalendarDay.source == "manual", CalendarDay.day.not_in(list(wanted)))).all():
        session.delete(row)
    session.flush()
    fill_from_package(session)  # a dropped override of an official day: the official one
