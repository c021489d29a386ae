"""The work calendar (settings.calendar): days that differ from the ordinary week."""
from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from jobs.core.vocab import CALENDAR_KINDS, CALENDAR_SOURCES
from models.base import db, in_check


class CalendarDay(db.Model):
    """A public holiday (off) or a make-up working day (调休, on) on one date.

    Rows come from `chinesecalendar` for the years it knows (source chinesecalendar)
    or are entered on the admin screen or in config as code (source manual). A date
    listed here wins over the built-in calendar (jobs/workdays.py).
    """

    __tablename__ = "calendar_days"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(in_check("kind", CALENDAR_KINDS), name="kind"),
        CheckConstraint(in_check("source", CALENDAR_SOURCES), name="source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    note: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(20), default="manual")

    def __str__(self) -> str:
        return f"{self.day.isoformat()} {self.kind}"
