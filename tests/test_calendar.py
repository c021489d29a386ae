"""jobs/core/calendar.py: the preview's send calendar under the per-customer quota (no DB)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from jobs.core.calendar import Message, Quota, Schedule, plan_customer, send_calendar

MON = date(2025, 3, 10)  # a Monday


def d(n: int) -> date:
    return MON + timedelta(days=n)


def table(days) -> list[tuple[int, int, int]]:
    """(messages, tasks, deferred) per day, for compact expectations."""
    return [(x.messages, x.tasks, x.deferred_by_quota) for x in days]


def test_one_message_a_day_never_waits():
    plan = Schedule(4, (Message(d(0), "10:00"), Message(d(2), "10:00")), tasks=(d(1),))
    days = send_calendar([plan], Quota(1, "day"), MON, 4)
    assert [x.date for x in days] == [d(0), d(1), d(2), d(3)]
    assert table(days) == [(4, 0, 0), (0, 4, 0), (4, 0, 0), (0, 0, 0)]


def test_second_message_of_a_day_goes_the_next_day():
    plan = Schedule(3, (Message(d(0), "15:00"), Message(d(0), "10:00")))
    assert table(send_calendar([plan], Quota(1, "day"), MON, 3)) == [
        (3, 0, 3), (3, 0, 0), (0, 0, 0)]


def test_a_deferred_message_competes_with_the_next_days_own_by_time():
    # day 0: 10:00 goes, 15:00 waits; day 1: its own 09:00 is earlier, so 15:00 waits again
    messages = (Message(d(0), "10:00"), Message(d(0), "15:00"), Message(d(1), "09:00"))
    sent, deferred = plan_customer(messages, Quota(1, "day"), MON, d(5))
    assert dict(sent) == {d(0): 1, d(1): 1, d(2): 1}
    assert dict(deferred) == {d(0): 1, d(1): 1}


def test_a_higher_daily_limit_takes_more_the_same_day():
    messages = tuple(Message(d(0), f"1{i}:00") for i in range(3))
    sent, deferred = plan_customer(messages, Quota(2, "day"), MON, d(3))
    assert (dict(sent), dict(deferred)) == ({d(0): 2, d(1): 1}, {d(0): 1})


def test_a_full_week_defers_to_next_monday_and_counts_the_deferral_once():
    messages = (Message(d(0)), Message(d(1)), Message(d(2)))  # Mon, Tue, Wed
    sent, deferred = plan_customer(messages, Quota(2, "week"), MON, d(13))
    assert dict(sent) == {d(0): 1, d(1): 1, d(7): 1}
    assert dict(deferred) == {d(2): 1}


def test_a_monthly_quota_opens_again_on_the_first():
    messages = (Message(date(2025, 3, 30)), Message(date(2025, 3, 31)))
    sent, deferred = plan_customer(messages, Quota(1, "month"), date(2025, 3, 30),
                                   date(2025, 4, 2))
    assert dict(sent) == {date(2025, 3, 30): 1, date(2025, 4, 1): 1}
    assert dict(deferred) == {date(2025, 3, 31): 1}


def test_past_items_are_due_on_the_first_day_and_later_ones_fall_outside():
    plan = Schedule(2, (Message(d(-3), "10:00"), Message(d(9), "10:00")), tasks=(d(-1), d(9)))
    assert table(send_calendar([plan], Quota(1, "day"), MON, 3)) == [
        (2, 2, 0), (0, 0, 0), (0, 0, 0)]


def test_a_message_deferred_past_the_window_leaves_it_unsent():
    plan = Schedule(1, (Message(d(1), "10:00"), Message(d(1), "11:00")))
    days = send_calendar([plan], Quota(1, "day"), MON, 2)
    assert table(days) == [(0, 0, 0), (1, 0, 1)]


def test_groups_add_up_and_empty_groups_count_nothing():
    busy = Schedule(5, (Message(d(0), "10:00"), Message(d(0), "11:00")))
    calm = Schedule(7, (Message(d(1), "10:00"),))
    held_out = Schedule(0, (Message(d(0), "10:00"),), tasks=(d(0),))
    assert table(send_calendar([busy, calm, held_out], Quota(1, "day"), MON, 2)) == [
        (5, 0, 5), (12, 0, 0)]


def test_day_dicts_carry_iso_dates():
    (day,) = send_calendar([Schedule(1, (Message(d(0)),))], Quota(), MON, 1)
    assert day.as_dict() == {"date": "2025-03-10", "messages": 1, "tasks": 0,
                             "deferred_by_quota": 0}


@pytest.mark.parametrize("limit, period", [(0, "day"), (1, "year")])
def test_a_quota_must_make_sense(limit, period):
    with pytest.raises(ValueError):
        Quota(limit, period)
