"""Due times of timed steps and reminders, in the enterprise time zone. Pure.

A step is due at local midnight of day 0 + `day` days + `at` (SPEC §3); a
reminder at day N after entering its stage, hour H (SPEC §4). A step already
past when the customer enters is due at once: `due_at` never returns a time
before `not_before`. The tick writes a step when its local day has come, so the
clock also says which steps are due by a local date and when the next one falls.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo

# An enrollment's or placement's next_due_at set to this, long past, makes the next
# tick look at it again (a step edited, a delivery it waited on closed).
LOOK_AGAIN = datetime(2000, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Slot:
    """One timed item: a step (by id and position) or a reminder."""

    id: int
    position: int
    day: int
    at: str  # "HH:MM"

    @property
    def order(self) -> tuple:
        return (self.day, self.at, self.position)


def local_date(instant: datetime, tz: tzinfo) -> date:
    return instant.astimezone(tz).date()


def local_time(day: date, at: str, tz: tzinfo) -> datetime:
    """The instant (UTC) of local `at` on local `day`."""
    hours, minutes = (int(part) for part in at.split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=tz).astimezone(timezone.utc)


def end_of_local_day(instant: datetime, tz: tzinfo) -> datetime:
    """The next local midnight after `instant` (UTC): everything due today is before it."""
    return local_time(local_date(instant, tz) + timedelta(days=1), "00:00", tz)


def due_at(day0: date, slot: Slot, tz: tzinfo, not_before: datetime | None = None) -> datetime:
    due = local_time(day0 + timedelta(days=slot.day), slot.at, tz)
    return max(due, not_before) if not_before is not None else due


def hour_slot(id: int, position: int, day: int, hour: int) -> Slot:
    return Slot(id=id, position=position, day=day, at=f"{hour:02d}:00")


class Clock:
    """The slots of one SOP (or one stage), in the order they run."""

    def __init__(self, slots: Iterable[Slot]):
        self.slots: Sequence[Slot] = tuple(sorted(slots, key=lambda s: s.order))

    def due_by(self, day0: date, today: date) -> list[Slot]:
        """Slots whose local day has come by `today`."""
        return [s for s in self.slots if day0 + timedelta(days=s.day) <= today]

    def next_after(self, day0: date, today: date, tz: tzinfo) -> datetime | None:
        """Local due time of the first slot whose day is after `today`; None if none."""
        for s in self.slots:
            if day0 + timedelta(days=s.day) > today:
                return due_at(day0, s, tz)
        return None

    def first(self, day0: date, tz: tzinfo) -> datetime | None:
        """Due time of the first slot, which is when the tick first needs to look."""
        return due_at(day0, self.slots[0], tz) if self.slots else None
