"""Two rules left open (issue 15): a paused new-customer SOP's entry window on resume, and
a step added to a running SOP after its time had passed for an enrollment."""
from __future__ import annotations

from datetime import timedelta

import pytest

from jobs import lifecycle
from jobs.materialize import LATE_STEP
from models import db
from tests.engine_support import (
    START, added, base, deliveries, delivery_rows, doc, enrolled, enrollment, events, load,
    local, run_tick, sop, sop_row, started, step, tag_added, welcome,
)


@pytest.fixture(autouse=True)
def people():
    base()


# --- pause and resume of a new-customer SOP -----------------------------------------------
def test_customers_added_while_paused_enter_on_resume_only_within_their_window():
    started(welcome(entry_window_hours=24))
    lifecycle.pause(db.session, sop_row("welcome"), local(2025, 3, 2, 9))
    db.session.commit()
    events(added("early", tags=["购买防晒正装"]), now=local(2025, 3, 2, 10))  # window shuts 3/3 10:00
    events(added("late", tags=["购买防晒正装"]), now=local(2025, 3, 3, 12))
    events(added("untagged"), now=local(2025, 3, 3, 13))
    run_tick(local(2025, 3, 3, 14))
    assert enrolled("welcome") == set()  # nothing enters while paused

    lifecycle.resume(db.session, sop_row("welcome"), local(2025, 3, 3, 15))
    db.session.commit()
    assert enrolled("welcome") == {"late"}
    assert enrollment("welcome", "late").day0.isoformat() == "2025-03-03"  # its add day
    # the untagged one's window is still open: its tag arriving in time lets it in
    events(tag_added("untagged", "购买防晒正装"), now=local(2025, 3, 4, 9))
    # the early one's window had closed during the pause: a later tag changes nothing
    events(tag_added("early", "已复购"), now=local(2025, 3, 4, 9))
    run_tick(local(2025, 3, 4, 9, 5))
    assert enrolled("welcome") == {"late", "untagged"}
    assert enrollment("welcome", "early") is None


def test_a_nurture_sop_resumes_without_a_sweep():
    load(doc([sop("n", target={"tags_any": ["VIP"]})]), START)
    run_tick(START + timedelta(minutes=5))
    lifecycle.pause(db.session, sop_row("n"), local(2025, 3, 2, 9))
    events(added("vip", tags=["VIP"]), now=local(2025, 3, 2, 10))
    run_tick(local(2025, 3, 2, 11))
    lifecycle.resume(db.session, sop_row("n"), local(2025, 3, 2, 12))
    db.session.commit()
    assert enrolled("n") == set()  # nurture SOPs enter on the customer's next change


# --- a step added after its time had passed ------------------------------------------------
def vip(steps) -> dict:
    return sop("vip", target={"tags_any": ["VIP"]}, steps=steps)


def test_a_step_added_after_its_time_is_skipped_for_enrollments_already_in():
    load(doc([vip([step(0, key="a"), step(5, key="e")])]), START)
    events(added("old", tags=["VIP"]), now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))
    # on 3/4, a day-2 step is added: for "old" (day 0 = 3/1) it was due 3/3 10:00
    load(doc([vip([step(0, key="a"), step(2, key="b"), step(5, key="e")])]),
         local(2025, 3, 4, 9))
    events(added("new", tags=["VIP"]), now=local(2025, 3, 4, 9, 30))
    run_tick(local(2025, 3, 4, 9, 35))
    [late] = delivery_rows("old", step_key="b")
    assert (late.status, late.reason) == ("skipped", LATE_STEP)
    # a customer entering after the edit gets it on its own day 2, as always
    assert deliveries("vip", "new")[:1] == [(0, local(2025, 3, 4, 10), "pending")]
    run_tick(local(2025, 3, 6, 9))
    assert [d.status for d in delivery_rows("new", step_key="b")] == ["pending"]
    # for "old", a step whose time had not yet come is written when it comes
    run_tick(local(2025, 3, 6, 9, 5))
    assert [d.status for d in delivery_rows("old", step_key="e")] == ["pending"]


def test_a_step_added_before_its_time_reaches_enrollments_already_in():
    load(doc([vip([step(0, key="a")])]), START)
    events(added("old", tags=["VIP"]), now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))
    load(doc([vip([step(0, key="a"), step(2, key="b")])]), local(2025, 3, 3, 9))
    run_tick(local(2025, 3, 3, 9, 5))
    [b] = delivery_rows("old", step_key="b")
    assert (b.status, b.reason, b.due_at) == ("pending", None, local(2025, 3, 3, 10))
