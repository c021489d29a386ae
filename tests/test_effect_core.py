"""Effect analysis math and local-day buckets (jobs/core): no database.

Reference figures are Newcombe's (Statistics in Medicine 17, 1998): his worked
examples for the Wilson score interval and for method 10, the hybrid score interval
of a difference of independent proportions.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from jobs.core.buckets import day_edges, week_edges, week_start
from jobs.core.effect import lift, rate, wilson


def test_wilson_interval_matches_newcombes_worked_example():
    low, high = wilson(81, 263)  # Newcombe 1998a, example (a): 0.2553 to 0.3662
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    low, high = wilson(0, 10)  # example (e): 0 to 0.2775
    assert (low, round(high, 4)) == (0.0, 0.2775)
    assert wilson(0, 0) is None
    with pytest.raises(ValueError):
        wilson(3, 2)


def test_lift_interval_matches_newcombes_method_10():
    # Newcombe 1998b, example (a): 56/70 - 48/80 = 0.2000, method 10: 0.0524 to 0.3339
    result = lift(rate(56, 70), rate(48, 80))
    assert round(result.difference, 4) == 0.2
    assert (round(result.low, 4), round(result.high, 4)) == (0.0524, 0.3339)
    assert result.significant
    assert result.relative == pytest.approx(0.2 / 0.6)
    # example (d): 5/56 - 0/29 = 0.0893, method 10: -0.0381 to 0.1926 (includes zero)
    tie = lift(rate(5, 56), rate(0, 29))
    assert (round(tie.low, 4), round(tie.high, 4)) == (-0.0381, 0.1926)
    assert not tie.significant and tie.relative is None  # the holdout rate is 0


def test_lift_without_a_holdout_group_is_empty():
    result = lift(rate(3, 10), rate(0, 0))
    assert (result.difference, result.low, result.high) == (None, None, None)
    assert not result.significant
    assert rate(3, 12).value == 0.25 and rate(0, 0).value is None


def test_day_edges_are_local_midnights_across_a_daylight_saving_change():
    new_york = ZoneInfo("America/New_York")  # clocks went forward on 2025-03-09
    edges = day_edges(date(2025, 3, 8), 2, new_york)
    assert edges == [datetime(2025, 3, 8, 5, tzinfo=timezone.utc),
                     datetime(2025, 3, 9, 5, tzinfo=timezone.utc),
                     datetime(2025, 3, 10, 4, tzinfo=timezone.utc)]  # a 23-hour day


def test_week_edges_start_on_mondays():
    shanghai = ZoneInfo("Asia/Shanghai")
    assert week_start(date(2025, 3, 9)) == date(2025, 3, 3)  # a Sunday -> its Monday
    mondays, edges = week_edges(date(2025, 3, 5), date(2025, 3, 17), shanghai)
    assert mondays == [date(2025, 3, 3), date(2025, 3, 10), date(2025, 3, 17)]
    assert edges[0] == datetime(2025, 3, 2, 16, tzinfo=timezone.utc)
    assert edges[-1] == datetime(2025, 3, 23, 16, tzinfo=timezone.utc)
