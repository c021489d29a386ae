"""The pure pieces of group sends (jobs/core): the day-by-day simulation the preview
runs, and the checks of a group-send body. No database."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from jobs.core.checker import Known
from jobs.core.quota import Candidate, QuotaRule, simulate
from jobs.core.rules_group_send import check_group_send

TZ = ZoneInfo("Asia/Shanghai")
TODAY = date(2025, 3, 3)  # a Monday


def at(day: int, hour: int) -> datetime:
    return datetime(2025, 3, day, hour, tzinfo=TZ)


def run(candidates, rule=QuotaRule(), used=None):
    return simulate(candidates, rule=rule, tz=TZ, today=TODAY, used=used or {}, budget_used={})


def test_each_day_is_planned_together_and_the_loser_comes_back_the_next_day():
    out = run([Candidate(1, 7, 0, at(3, 10), at(3, 10)), Candidate(2, 7, 9, at(3, 15), at(3, 15)),
               Candidate(3, 7, 5, at(4, 9), at(4, 9))])
    # day 3: priority 9 wins; day 4: the deferred one (0) meets priority 5 and loses again
    assert out == {2: ("send", date(2025, 3, 3)), 3: ("send", date(2025, 3, 4)),
                   1: ("send", date(2025, 3, 5))}


def test_a_week_quota_already_used_waits_for_monday_and_past_lateness_expires():
    week = QuotaRule(limit=1, period="week", max_lateness_days=3)
    out = run([Candidate(1, 7, 0, at(3, 10), at(3, 10))], rule=week,
              used={(7, date(2025, 3, 3)): 1})
    assert out == {1: ("expire", None)}
    monday = run([Candidate(1, 7, 0, at(7, 10), at(7, 10))], rule=week,
                 used={(7, date(2025, 3, 3)): 1})
    assert monday == {1: ("send", date(2025, 3, 10))}


def test_a_body_is_checked_whole():
    known = Known(tags={"VIP"}, materials={"poster"}, employees={"zhangsan"})
    good = {"key": "d12", "text": "你好", "attachments": ["poster"],
            "target": {"tags_any": ["VIP"]}, "priority": 3, "batch": {"size": 10},
            "senders": ["zhangsan"]}
    assert check_group_send(good, known) == []
    bad = {"key": "", "text": "字" * 1400, "attachments": ["poster"] * 10,
           "target": {"tags_any": ["?"]}, "priority": 10**6, "batch": {"size": 0, "x": 1},
           "senders": ["nobody"], "extra": 1}
    paths = {p.path for p in check_group_send(bad, known)}
    assert {"key", "text", "attachments", "target.tags_any[0]", "priority", "batch.size",
            "batch.x", "senders[0]", "extra"} <= paths
    assert [p.path for p in check_group_send([], known)] == [""]
