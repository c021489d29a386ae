"""Due times of steps and reminders (jobs.core.due): pure, no database (SPEC §3, §4)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from jobs.core.due import (
    Clock, Slot, due_at, end_of_local_day, hour_slot, local_date, local_time,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
UTC = timezone.utc


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_shanghai_steps_day_5_and_10_at_10_are_exact_utc_instants():
    day0 = date(2025, 3, 1)
    assert due_at(day0, Slot(1, 0, 5, "10:00"), SHANGHAI) == utc(2025, 3, 6, 2, 0)
    assert due_at(day0, Slot(2, 1, 10, "10:00"), SHANGHAI) == utc(2025, 3, 11, 2, 0)


def test_due_times_are_returned_in_utc():
    due = due_at(date(2025, 3, 1), Slot(1, 0, 0, "09:30"), SHANGHAI)
    assert due.utcoffset() == timedelta(0)
    assert due == utc(2025, 3, 1, 1, 30)


def test_day_0_midnight_is_local_midnight_not_utc_midnight():
    assert due_at(date(2025, 3, 1), Slot(1, 0, 0, "00:00"), SHANGHAI) == utc(2025, 2, 28, 16, 0)


def test_a_step_crossing_the_spring_dst_change_keeps_its_local_hour():
    # America/New_York switches to daylight time on 2025-03-09.
    day0 = date(2025, 3, 5)
    before = due_at(day0, Slot(1, 0, 0, "10:00"), NEW_YORK)
    after = due_at(day0, Slot(2, 1, 5, "10:00"), NEW_YORK)
    assert before == utc(2025, 3, 5, 15, 0)
    assert after == utc(2025, 3, 10, 14, 0)
    assert before.astimezone(NEW_YORK).utcoffset() == timedelta(hours=-5)
    assert after.astimezone(NEW_YORK).utcoffset() == timedelta(hours=-4)
    assert (after.astimezone(NEW_YORK).hour, before.astimezone(NEW_YORK).hour) == (10, 10)


def test_a_step_crossing_the_autumn_dst_change_keeps_its_local_hour():
    # back to standard time on 2025-11-02
    due = due_at(date(2025, 10, 31), Slot(1, 0, 5, "10:00"), NEW_YORK)
    assert due == utc(2025, 11, 5, 15, 0)


def test_a_step_already_past_at_entry_is_due_at_the_entry_instant():
    entered = datetime(2025, 3, 1, 11, 0, tzinfo=SHANGHAI)
    slot = Slot(1, 0, 0, "09:00")
    assert due_at(date(2025, 3, 1), slot, SHANGHAI, not_before=entered) == entered


def test_a_step_still_ahead_at_entry_keeps_its_own_time():
    entered = datetime(2025, 3, 1, 8, 0, tzinfo=SHANGHAI)
    assert due_at(date(2025, 3, 1), Slot(1, 0, 0, "09:00"), SHANGHAI, not_before=entered) == (
        datetime(2025, 3, 1, 9, 0, tzinfo=SHANGHAI))


def test_local_date_is_the_enterprise_calendar_day():
    # 17:00 UTC is already the next day in Shanghai, still the same day in New York
    instant = utc(2025, 3, 1, 17, 0)
    assert local_date(instant, SHANGHAI) == date(2025, 3, 2)
    assert local_date(instant, NEW_YORK) == date(2025, 3, 1)


def test_local_time_converts_wall_time_to_utc():
    assert local_time(date(2025, 3, 6), "10:00", SHANGHAI) == utc(2025, 3, 6, 2, 0)
    assert local_time(date(2025, 7, 1), "10:00", NEW_YORK) == utc(2025, 7, 1, 14, 0)


def test_end_of_local_day_is_the_next_local_midnight():
    assert end_of_local_day(datetime(2025, 3, 1, 23, 59, tzinfo=SHANGHAI), SHANGHAI) == (
        utc(2025, 3, 1, 16, 0))
    # exactly midnight belongs to the day it starts
    assert end_of_local_day(datetime(2025, 3, 2, 0, 0, tzinfo=SHANGHAI), SHANGHAI) == (
        utc(2025, 3, 2, 16, 0))


def test_end_of_local_day_on_a_23_hour_dst_day():
    start = datetime(2025, 3, 9, 0, 30, tzinfo=NEW_YORK)
    end = end_of_local_day(start, NEW_YORK)
    assert end == utc(2025, 3, 10, 4, 0)  # midnight EDT
    assert end - start == timedelta(hours=22, minutes=30)


def test_hour_slot_is_a_whole_hour():
    slot = hour_slot(7, 2, 1, 9)
    assert (slot.id, slot.position, slot.day, slot.at) == (7, 2, 1, "09:00")


def test_clock_orders_slots_by_day_then_time_then_position():
    clock = Clock([Slot(1, 0, 5, "10:00"), Slot(2, 1, 0, "18:00"), Slot(3, 2, 0, "09:00"),
                   Slot(4, 3, 0, "09:00")])
    assert [s.id for s in clock.slots] == [3, 4, 2, 1]


def test_clock_due_by_takes_slots_whose_local_day_has_come():
    clock = Clock([Slot(1, 0, 5, "10:00"), Slot(2, 1, 10, "10:00"), Slot(3, 2, 0, "23:00")])
    day0 = date(2025, 3, 1)
    assert [s.id for s in clock.due_by(day0, date(2025, 3, 1))] == [3]
    assert [s.id for s in clock.due_by(day0, date(2025, 3, 5))] == [3]
    assert [s.id for s in clock.due_by(day0, date(2025, 3, 6))] == [3, 1]
    assert [s.id for s in clock.due_by(day0, date(2025, 4, 1))] == [3, 1, 2]
    assert clock.due_by(day0, date(2025, 2, 28)) == []


def test_clock_next_after_is_the_first_slot_of_a_later_day():
    clock = Clock([Slot(1, 0, 5, "10:00"), Slot(2, 1, 10, "10:00")])
    day0 = date(2025, 3, 1)
    assert clock.next_after(day0, date(2025, 3, 1), SHANGHAI) == utc(2025, 3, 6, 2, 0)
    # on day 5 itself the day-5 slot is being written: the next one is day 10
    assert clock.next_after(day0, date(2025, 3, 6), SHANGHAI) == utc(2025, 3, 11, 2, 0)
    assert clock.next_after(day0, date(2025, 3, 11), SHANGHAI) is None


def test_clock_first_is_the_earliest_slot_and_none_without_slots():
    clock = Clock([Slot(1, 0, 10, "10:00"), Slot(2, 1, 5, "08:00")])
    assert clock.first(date(2025, 3, 1), SHANGHAI) == utc(2025, 3, 6, 0, 0)
    assert Clock([]).first(date(2025, 3, 1), SHANGHAI) is None
    assert Clock([]).next_after(date(2025, 3, 1), date(2025, 3, 1), SHANGHAI) is None
