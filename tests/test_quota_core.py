"""The pure quota planner and batch splitter (jobs/core): no database."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobs.core.batching import backoff_seconds, split
from jobs.core.quota import Candidate, QuotaRule, period_start, plan, same_time_on

TZ = ZoneInfo("Asia/Shanghai")
TODAY = date(2025, 3, 3)  # a Monday


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=TZ)


def candidate(id_, customer=1, priority=0, due=None, first=None) -> Candidate:
    due = due or at(3, 10)
    return Candidate(id_, customer, priority, due, first or due)


def verdicts(decisions):
    return {d.id: (d.verdict, d.due_at.astimezone(TZ) if d.due_at else None, d.reason)
            for d in decisions}


def run(candidates, rule=QuotaRule(), used=None, budget=None, today=TODAY):
    return plan(candidates, rule=rule, tz=TZ, today=today, used=used or {},
                budget_used=budget or {})


def test_two_sops_due_the_same_day_send_one_and_defer_the_other_to_the_next_day():
    out = verdicts(run([candidate(1, due=at(3, 10)), candidate(2, due=at(3, 15))]))
    assert out[1] == ("send", None, None)
    assert out[2] == ("defer", at(4, 15), "quota: 1 per day reached")


def test_priority_beats_the_earlier_due_time():
    out = verdicts(run([candidate(1, priority=0, due=at(3, 9)),
                        candidate(2, priority=5, due=at(3, 20))]))
    assert out[2][0] == "send" and out[1][:2] == ("defer", at(4, 9))


def test_equal_priority_and_time_go_by_the_older_delivery():
    out = verdicts(run([candidate(8), candidate(3)]))
    assert (out[3][0], out[8][0]) == ("send", "defer")


def test_each_customer_has_its_own_quota():
    out = verdicts(run([candidate(1, customer=1), candidate(2, customer=2)]))
    assert {v[0] for v in out.values()} == {"send"}


def test_the_ledger_already_charged_today_defers_to_the_next_day_with_room():
    used = {(1, date(2025, 3, 3)): 1, (1, date(2025, 3, 4)): 1}
    out = verdicts(run([candidate(1)], used=used))
    assert out[1][:2] == ("defer", at(5, 10))


def test_a_weekly_quota_defers_to_next_monday():
    rule = QuotaRule(limit=2, period="week", max_lateness_days=7)
    used = {(1, date(2025, 3, 3)): 1}  # one already this week (week of Monday 03-03)
    decisions = run([candidate(1, due=at(5, 10)), candidate(2, due=at(5, 11))],
                    rule=rule, used=used, today=date(2025, 3, 5))
    out = verdicts(decisions)
    assert out[1][0] == "send" and [d.period for d in decisions if d.id == 1] == [date(2025, 3, 3)]
    assert out[2][:2] == ("defer", at(10, 11))  # Monday 03-10, same local time


def test_a_monthly_quota_counts_from_the_first_of_the_month():
    assert period_start(date(2025, 3, 31), "month") == date(2025, 3, 1)
    assert period_start(date(2025, 3, 9), "week") == date(2025, 3, 3)  # Sunday -> Monday
    assert period_start(date(2025, 3, 9), "day") == date(2025, 3, 9)


def test_the_enterprise_budget_defers_what_the_day_cannot_take():
    rule = QuotaRule(limit=1, daily_budget=2)
    out = verdicts(run([candidate(i, customer=i) for i in (1, 2, 3)], rule=rule,
                       budget={date(2025, 3, 3): 1}))
    assert [out[i][0] for i in (1, 2, 3)] == ["send", "defer", "defer"]
    assert out[2][2] == "enterprise daily budget reached"


def test_more_than_max_lateness_days_late_is_expired_with_the_reason():
    out = verdicts(run([candidate(1, due=at(3, 10), first=at(2, 10))],
                       rule=QuotaRule(max_lateness_days=3), today=date(2025, 3, 6)))
    assert out[1] == ("expire", None, "more than 3 days late")


def test_no_room_within_the_lateness_window_expires():
    used = {(1, date(2025, 3, d)): 1 for d in (3, 4)}
    out = verdicts(run([candidate(1)], rule=QuotaRule(max_lateness_days=1), used=used))
    assert out[1] == ("expire", None, "no room under the quota within 1 days")


def test_an_overdue_delivery_goes_out_today():
    decisions = run([candidate(1, due=at(1, 10))], today=TODAY)
    assert [(d.verdict, d.period) for d in decisions] == [("send", TODAY)]


def test_same_local_time_keeps_the_wall_clock_across_a_dst_change():
    ny = ZoneInfo("America/New_York")
    before = datetime(2025, 3, 8, 10, tzinfo=ny)  # the day before the spring change
    moved = same_time_on(before, date(2025, 3, 9), ny)
    assert moved.astimezone(ny).hour == 10 and moved - before == timedelta(hours=23)


def test_batches_of_size_2_every_10_minutes():
    due = at(3, 10)
    batches = split([5, 1, 4, 2, 3], due_at=due, size=2, interval_minutes=10)
    assert [(b.seq, b.not_before, b.delivery_ids) for b in batches] == [
        (0, due, (1, 2)), (1, due + timedelta(minutes=10), (3, 4)),
        (2, due + timedelta(minutes=20), (5,))]


def test_a_key_with_earlier_batches_continues_their_spacing():
    batches = split([7], due_at=at(3, 10), size=2, interval_minutes=10, first_seq=3)
    assert [(b.seq, b.not_before) for b in batches] == [(3, at(3, 10, 30))]


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError):
        split([1], due_at=at(3, 10), size=0, interval_minutes=1)


def test_backoff_doubles_up_to_ten_minutes():
    assert [backoff_seconds(n) for n in (1, 2, 3, 6, 20)] == [30, 60, 120, 600, 600]
