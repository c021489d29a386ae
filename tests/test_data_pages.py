"""The data pages' figures (jobs/analytics.py, jobs/ops_stats.py) on the fixed data set
of tests/data_support.py; every expected number is worked out here from that set."""
from __future__ import annotations

from datetime import date
from math import sqrt

import pytest
from sqlalchemy import select

from jobs import analytics
from jobs.core.effect import Z95
from jobs.ops_stats import dashboard, journey_stats, quota_calendar
from models import Customer, Delivery, Employee, Enrollment, Sop, Task, db
from tests.data_support import (
    HOLDOUT, NOW, TZ, at, build_dental, build_promo,
)


@pytest.fixture
def promo():
    return build_promo()


def department(name: str):
    """The customer ids owned in a department (what a manager of it may see)."""
    staff = select(Employee.id).where(Employee.department.has(name=name))
    return select(Customer.id).where(Customer.owner_id.in_(staff))


def test_totals_count_enrollments_by_status_and_scope(promo):
    sop = promo["sop"]
    totals = analytics.totals(db.session, sop)
    # c1 completed, c2 ended early, c3 ended by hand, the other 7 active; 3 held out
    assert (totals.entered, totals.active, totals.completed, totals.ended_early,
            totals.ended_manual, totals.holdout) == (10, 7, 1, 1, 1, 3)
    east = analytics.totals(db.session, sop, department("华东销售"))  # c1-c6
    assert (east.entered, east.active, east.holdout) == (6, 3, 2)


def test_funnel_counts_every_step_by_status_with_the_holdout_apart(promo):
    rows = analytics.funnel(db.session, promo["sop"])
    assert [r.position for r in rows] == [0, 1, 2]
    first = rows[0]
    assert first.due == 10  # one delivery written per entrant
    assert {k: v for k, v in first.counts.items() if v} == {
        "sent": 2, "queued": 1, "failed": 1, "skipped": 3, "deferred": 1, "pending": 1,
        "expired": 1}
    assert first.holdout == 3  # c5, c6, c10: the three skipped ones
    assert (rows[1].due, rows[1].counts["sent"], rows[1].counts["cancelled"],
            rows[1].counts["skipped"], rows[1].holdout) == (3, 1, 1, 1, 0)
    assert (rows[2].due, rows[2].counts["queued"], rows[2].label) == (1, 1, "day 3 10:00 task")
    west = analytics.funnel(db.session, promo["sop"], department("华南销售"))  # c7-c10
    assert (west[0].due, west[0].holdout, west[1].due) == (4, 1, 0)


def test_sends_per_day_count_messages_handed_over_and_confirmed(promo):
    days = analytics.sends_per_day(db.session, promo["sop"], NOW, TZ, days=14)
    assert days[0].day == date(2025, 3, 1) and days[-1].day == date(2025, 3, 14)
    handed = {d.day.day: d.handed for d in days if d.handed}
    confirmed = {d.day.day: d.confirmed for d in days if d.confirmed}
    assert handed == {3: 3, 5: 1}  # c1, c2, c3 on 3/3; c1's second on 3/5 (the task: no)
    assert confirmed == {3: 1, 4: 1, 5: 1}


def test_conversion_per_week_and_the_holdout_lift(promo):
    result = analytics.conversion(db.session, promo["sop"], NOW, TZ)
    overall = result.overall
    # messaged: c1-c4, c7-c9 (7); converted within 7 days: c1, c7 (c2 too late, c3 before,
    # c8 exactly at the end). Holdout: c5, c6, c10 (3); converted: c5.
    assert (overall.messaged.converted, overall.messaged.entrants) == (2, 7)
    assert (overall.holdout.converted, overall.holdout.entrants) == (1, 3)
    assert (overall.everyone.converted, overall.everyone.entrants) == (3, 10)
    assert overall.lift.difference == pytest.approx(2 / 7 - 1 / 3)
    assert overall.lift.relative == pytest.approx((2 / 7 - 1 / 3) / (1 / 3))
    # the Newcombe interval from the two Wilson intervals, worked out here
    def wilson(x, n):
        p, z2 = x / n, Z95 ** 2
        centre, half = (p + z2 / (2 * n)), Z95 * sqrt(p * (1 - p) / n + z2 / (4 * n * n))
        return (centre - half) / (1 + z2 / n), (centre + half) / (1 + z2 / n)
    (l1, u1), (l2, u2) = wilson(2, 7), wilson(1, 3)
    d = 2 / 7 - 1 / 3
    assert overall.lift.low == pytest.approx(d - sqrt((2 / 7 - l1) ** 2 + (u2 - 1 / 3) ** 2))
    assert overall.lift.high == pytest.approx(d + sqrt((u1 - 2 / 7) ** 2 + (1 / 3 - l2) ** 2))
    assert not overall.lift.significant
    # week B entered 3/11: their 7 days end 3/18, after "now" (3/14)
    assert overall.window_open == 4
    weeks = [(w.week, w.messaged.converted, w.messaged.entrants, w.holdout.converted,
              w.holdout.entrants) for w in result.weeks]
    assert weeks == [(date(2025, 3, 3), 1, 4, 1, 2), (date(2025, 3, 10), 1, 3, 0, 1)]
    assert (result.days, result.holdout_percent) == (7, 20)


def test_an_sop_without_entrants_has_empty_figures():
    sop = Sop(key="empty", name="empty", kind="nurture", status="running")
    db.session.add(sop)
    db.session.commit()
    stats = analytics.sop_stats(db.session, sop, NOW, TZ)
    assert stats.totals.entered == 0 and stats.funnel == []
    assert stats.conversion.overall.everyone.value is None and stats.conversion.weeks == []
    assert sum(d.handed for d in stats.sends) == 0 and len(stats.sends) == 30


def test_customer_list_shows_status_and_the_last_step_reached(promo):
    rows = analytics.customers(db.session, promo["sop"])
    assert [r.name for r in rows[:4]] == ["c10", "c9", "c8", "c7"]  # newest entrants first
    last = {r.name: r.last_step for r in rows}
    # c1 reached its task (2); c2's day-2 message was cancelled: it reached step 0; c4's
    # day-2 message was skipped (final); c8 is still pending: nothing reached
    assert (last["c1"], last["c2"], last["c4"], last["c8"]) == (2, 0, 1, None)
    assert {r.name for r in rows if r.holdout} == HOLDOUT
    ended = analytics.customers(db.session, promo["sop"], status="ended_early")
    assert [(r.name, r.status) for r in ended] == [("c2", "ended_early")]


def test_quota_calendar_per_day(promo):
    days = quota_calendar(db.session, NOW, TZ, budget=100, back=12, ahead=2)
    assert days[0].day == date(2025, 3, 2) and days[-1].day == date(2025, 3, 16)
    by_day = {d.day.day: (d.planned, d.sent, d.deferred, d.budget_used) for d in days
              if (d.planned, d.sent, d.deferred, d.budget_used) != (0, 0, 0, 0)}
    # planned: messages due that day now, without cancelled ones and the holdout's
    #   3/3: c1-c4 (c5, c6 held out); 3/5: c1, c4 (c2's cancelled);
    #   3/11: c8, c9 (c10 held out; c7 deferred to 3/12); 3/12: c7
    # sent: handed over that day (3/3: c1-c3; 3/5: c1); deferred: c7 away from 3/11
    assert by_day == {3: (4, 3, 0, 3), 5: (2, 1, 0, 1), 11: (2, 0, 1, 0), 12: (1, 0, 0, 0)}
    assert {d.budget for d in days} == {100}


def test_journey_stats_stages_moves_and_reminders(promo):
    journey = build_dental(promo)
    stats = journey_stats(db.session, journey, NOW, TZ)
    assert [(s.key, s.now) for s in stats.stages] == [("s1", 2), ("s2", 1), ("s3", 0)]
    assert stats.days[-1] == date(2025, 3, 14) and len(stats.days) == 30

    def on(day):  # customers per stage at the end of that March day
        i = stats.days.index(date(2025, 3, day))
        return [s.per_day[i] for s in stats.stages]
    assert on(6) == [1, 1, 1]  # c1 in s1, c3 in s2, c4 in s3
    assert on(9) == [2, 1, 0]  # c1 and c4 in s1, c3 in s2
    assert on(14) == [2, 1, 0]  # today as of noon: c2, c4 in s1; c1 in s2 (c3 left 3/13)
    moves = {(m.source, m.target): m.customers for m in stats.moves}
    assert moves == {(None, "拔牙后"): 3, ("拔牙后", "种牙"): 1, ("拔牙后", "复查"): 1,
                     ("复查", "拔牙后"): 1, ("种牙", None): 1}
    people = {e.employee: (e.written, e.handed, e.done, e.expired) for e in stats.employees}
    assert people == {"Zhangsan": (4, 3, 2, 1), "Lisi": (1, 1, 0, 0)}
    assert stats.employees[1].completion == pytest.approx(2 / 3)  # sorted by name: Zhangsan


def test_dashboard_counts(promo):
    customers, staff, sop = promo["customers"], promo["staff"], promo["sop"]
    step = {s.position: s.id for s in sop.steps}[1]
    extra = [("c8", "queued", at(3, 14, 10), at(3, 14, 10), None),  # handed over today
             ("c9", "failed", at(3, 13, 10), None, None),  # failed within the week
             ("c7", "pending", at(3, 13, 10), None, at(3, 13, 0))]  # held: no active owner
    for name, status, due, queued, held in extra:
        enrollment = db.session.scalar(select(Enrollment).where(
            Enrollment.customer_id == customers[name].id))
        db.session.add(Delivery(customer_id=customers[name].id, sop_id=sop.id,
                                enrollment_id=enrollment.id, step_id=step, position=1,
                                action="message", due_at=due, status=status, queued_at=queued,
                                held_since=held))
    zhang = staff["zhangsan"].id
    for title, status, due, deadline in (
            ("yesterday", "open", at(3, 13, 18), None),  # overdue: due before today
            ("late", "open", at(3, 14, 15), at(3, 14, 11)),  # overdue: past its deadline
            ("later today", "open", at(3, 14, 15), None), ("done", "done", at(3, 1), None)):
        db.session.add(Task(kind="followup", status=status, employee_id=zhang, title=title,
                            due_at=due, deadline_at=deadline))
    db.session.commit()
    board = dashboard(db.session, NOW, TZ)
    # deferred: c7's first message; failed this week: c9's (c4's failed on 3/3, too old)
    assert (board.running_sops, board.sent_today, board.deferred, board.failed_week,
            board.overdue_tasks, board.held) == (1, 1, 1, 1, 2, 1)
    east = dashboard(db.session, NOW, TZ, department("华东销售"))  # c1-c6: none of these
    assert (east.sent_today, east.deferred, east.failed_week, east.held) == (0, 0, 0, 0)
