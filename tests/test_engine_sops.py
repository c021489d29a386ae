"""Who enters an SOP (SPEC §3), through imports, events and ticks: the new-customer
window and owner scope, nurture targets and lost customers, the entry conflict,
playbooks, and the holdout group."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from jobs import lifecycle
from models import Delivery, Enrollment, db
from tests.conftest import _wipe
from tests.engine_support import (
    START, SUNSCREEN, added, base, count, customer, deliveries, delivery_rows, doc, enrolled,
    enrollment, events, load, local, lost, paid_customers, run_tick, sop, sop_row, stage_changed,
    started, step, tag_added, tag_removed, tasks, welcome,
)


@pytest.fixture(autouse=True)
def people():
    base()


# --- new-customer SOPs -------------------------------------------------------------------
def test_a_new_customer_added_while_running_enters_with_day0_the_local_add_day():
    started(welcome())
    events(added("fan", tags=["购买防晒正装"]), added("ad", source="线上广告",
                                                      tags=["购买防晒正装"]),
           added("untagged"), now=local(2025, 3, 1, 22, 30))
    run_tick(local(2025, 3, 2, 9))  # the next local day, 10.5 hours after the add

    assert enrolled("welcome") == {"fan"}
    e = enrollment("welcome", "fan")
    assert (e.status, e.day0, e.enrolled_at) == ("active", date(2025, 3, 1), local(2025, 3, 2, 9))
    # day 1 of an add on 3/1 is 3/2: already written, due at 10:00
    assert deliveries("welcome", "fan") == [(0, local(2025, 3, 2, 10), "pending")]


def test_day0_is_the_local_add_day_when_the_utc_date_differs():
    started(welcome())
    events(added("fan", tags=["购买防晒正装"]), now=local(2025, 3, 3, 7))  # 3/2 23:00 UTC
    run_tick(local(2025, 3, 3, 7, 30))
    assert enrollment("welcome", "fan").day0 == date(2025, 3, 3)


def test_a_customer_added_before_the_sop_started_never_enters():
    events(added("early", tags=["购买防晒正装"]), now=START - timedelta(hours=1))
    started(welcome())
    events(added("late", tags=["购买防晒正装"]), now=START + timedelta(minutes=30))
    run_tick(START + timedelta(hours=1))
    # later changes do not let the early customer in either
    events(tag_removed("early", "购买防晒正装"), now=START + timedelta(hours=2))
    events(tag_added("early", "购买防晒正装", "VIP"), now=START + timedelta(hours=3))
    run_tick(START + timedelta(hours=4))
    assert enrolled("welcome") == {"late"}


@pytest.mark.parametrize("window", [None, 6])
def test_tags_arriving_within_the_entry_window_still_let_a_new_customer_enter(window):
    hours = window or 24  # the default window
    started(welcome(**({"entry_window_hours": window} if window else {})))
    add_time = local(2025, 3, 1, 10)
    events(added("in_time"), added("too_late"), now=add_time)
    run_tick(add_time + timedelta(minutes=5))
    assert enrolled("welcome") == set()

    events(tag_added("in_time", "购买防晒正装"), now=add_time + timedelta(hours=hours - 1))
    run_tick(add_time + timedelta(hours=hours - 1, minutes=5))
    events(tag_added("too_late", "购买防晒正装"), now=add_time + timedelta(hours=hours + 1))
    run_tick(add_time + timedelta(hours=hours + 1, minutes=5))

    assert enrolled("welcome") == {"in_time"}
    assert enrollment("welcome", "in_time").day0 == date(2025, 3, 1)


def test_tags_that_arrived_within_the_window_count_even_when_the_tick_comes_later():
    # A tick delayed past the window (an outage, a replay with --at) still sees that the
    # tags arrived within it: entry follows when things happened, not when the tick ran.
    started(welcome())
    add_time = local(2025, 3, 1, 10)
    events(added("in_time"), added("too_late"), now=add_time)
    events(tag_added("in_time", "购买防晒正装"), now=add_time + timedelta(hours=20))
    events(tag_added("too_late", "购买防晒正装"), now=add_time + timedelta(hours=25))
    run_tick(add_time + timedelta(hours=26))
    assert enrolled("welcome") == {"in_time"}
    assert enrollment("welcome", "in_time").day0 == date(2025, 3, 1)


def test_a_customer_added_seconds_after_the_tick_time_still_enters_later():
    # the sender's clock runs a few seconds ahead of the evaluator's
    started(welcome())
    events(added("fan", tags=["购买防晒正装"]), now=local(2025, 3, 1, 10, 0) + timedelta(seconds=5))
    run_tick(local(2025, 3, 1, 10, 0) + timedelta(seconds=2))
    run_tick(local(2025, 3, 1, 10, 1))
    assert enrolled("welcome") == {"fan"}


def test_new_customer_sop_members_and_departments_scope_the_owner():
    started(welcome(target={**SUNSCREEN, "members": ["zhangsan"]}),
            sop("south", kind="new_customer", target={**SUNSCREEN, "departments": ["华南销售"]}),
            sop("both", kind="new_customer",
                target={**SUNSCREEN, "members": ["zhangsan"], "departments": ["华南销售"]}))
    events(added("of_zhang", owner="zhangsan", tags=["购买防晒正装"]),
           added("of_li", owner="lisi", tags=["购买防晒正装"]),
           added("of_wang", owner="wangwu", tags=["购买防晒正装"]),
           added("no_owner", owner=None, tags=["购买防晒正装"]), now=local(2025, 3, 1, 10))
    run_tick(local(2025, 3, 1, 10, 5))

    assert enrolled("welcome") == {"of_zhang"}
    assert enrolled("south") == {"of_li"}
    assert enrolled("both") == {"of_zhang", "of_li"}


# --- nurture SOPs ---------------------------------------------------------------------
def test_existing_customers_enter_a_nurture_sop_when_it_starts():
    paid_customers("paid")
    events(added("prospect"), now=local(2025, 2, 20, 9))
    run_tick(local(2025, 2, 20, 10))  # the journal is read before the SOP exists

    load(doc([sop("revisit", target={"stages": ["付费"]}, steps=[step(0, "11:00")])]),
         local(2025, 3, 3, 9))
    revisit = sop_row("revisit")
    assert (revisit.status, revisit.init_progress) == ("initializing", 0)
    assert enrolled("revisit") == set()

    run_tick(local(2025, 3, 3, 10))
    revisit = sop_row("revisit")
    assert (revisit.status, revisit.init_progress, revisit.initialized_at) == (
        "running", 100, local(2025, 3, 3, 10))
    assert enrolled("revisit") == {"paid"}
    assert enrollment("revisit", "paid").day0 == date(2025, 3, 3)  # the enrollment day
    assert deliveries("revisit", "paid") == [(0, local(2025, 3, 3, 11), "pending")]


def test_a_customer_who_comes_to_match_enters_on_the_tick_after_the_change():
    started(sop("revisit", target={"stages": ["付费"]}, steps=[step(0)]))
    events(added("later"), now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))
    assert enrolled("revisit") == set()

    events(stage_changed("later", "付费"), now=local(2025, 3, 4, 23))
    assert enrolled("revisit") == set()  # nothing happens before the tick
    run_tick(local(2025, 3, 5, 1))
    e = enrollment("revisit", "later")
    assert (e.status, e.day0, e.flowed_from_id) == ("active", date(2025, 3, 5), None)
    assert deliveries("revisit", "later") == [(0, local(2025, 3, 5, 10), "pending")]


def test_lost_customers_enter_only_an_sop_whose_target_asks_for_lost():
    paid_customers("kept", "gone")
    events(lost("gone"), now=local(2025, 2, 21, 9))
    started(sop("revisit", target={"stages": ["付费"]}),
            sop("winback", target={"churn_status": ["lost"]}))
    assert (enrolled("revisit"), enrolled("winback")) == ({"kept"}, {"gone"})

    paid_customers("gone_later", at=local(2025, 3, 1, 9))
    events(lost("gone_later"), now=local(2025, 3, 1, 9, 2))
    run_tick(local(2025, 3, 1, 9, 5))
    assert (enrolled("revisit"), enrolled("winback")) == ({"kept"}, {"gone", "gone_later"})


# --- entry conflict --------------------------------------------------------------------------
def test_a_customer_matching_target_and_early_end_does_not_enter():
    paid_customers("paid", "repurchased")
    events(tag_added("repurchased", "已复购"), now=local(2025, 2, 21, 9))
    repurchased = {"when": {"tags_any": ["已复购"]}}
    started(sop("revisit", target={"stages": ["付费"]}, early_end=repurchased),
            welcome(early_end=repurchased))
    assert enrolled("revisit") == {"paid"}  # the full evaluation at start

    paid_customers("paid_and_repurchased", at=local(2025, 3, 1, 9))
    events(tag_added("paid_and_repurchased", "已复购"),
           added("fan_repurchased", tags=["购买防晒正装", "已复购"]), now=local(2025, 3, 1, 9, 2))
    run_tick(local(2025, 3, 1, 9, 5))
    assert enrolled("revisit") == {"paid"}
    assert enrolled("welcome") == set()


# --- playbooks -----------------------------------------------------------------------------
COMPLAINT = sop("complaint", kind="playbook", trigger="tag_added", target={"tags_any": ["投诉"]},
                steps=[step(0, "00:00", "task", title="联系客户", assignee="role:service",
                            deadline_hours=24),
                       step(3, "10:00", "task", title="回访", assignee="owner", deadline_hours=24)])


def test_a_playbook_starts_on_its_trigger_event_or_by_hand():
    events(added("before", tags=["投诉"]), now=local(2025, 2, 28, 9))
    run_tick(local(2025, 2, 28, 9, 5))
    started(COMPLAINT)
    assert enrolled("complaint") == set()  # a playbook has no full evaluation at start

    events(added("complains"), added("other"), now=local(2025, 3, 1, 9))
    events(tag_added("complains", "投诉"), tag_added("other", "VIP"), now=local(2025, 3, 1, 10))
    run_tick(local(2025, 3, 1, 10, 5))
    assert enrolled("complaint") == {"complains"}
    assert [(t.customer.external_id, t.role, t.kind) for t in tasks()] == [
        ("complains", "service", "step")]

    lifecycle.enroll_by_hand(db.session, sop_row("complaint"), customer("before"),
                             local(2025, 3, 2, 9))
    db.session.commit()
    run_tick(local(2025, 3, 2, 9, 5))
    e = enrollment("complaint", "before")
    assert (e.status, e.day0) == ("active", date(2025, 3, 2))
    assert sorted(t.customer.external_id for t in tasks()) == ["before", "complains"]


def test_a_trigger_event_from_before_the_playbook_started_does_not_start_it():
    events(added("before"), now=local(2025, 2, 28, 9))
    events(tag_added("before", "投诉"), now=START - timedelta(hours=1))
    started(COMPLAINT)  # the first tick reads the 投诉 change, made before the start
    assert enrolled("complaint") == set()


# --- holdout ----------------------------------------------------------------------------------
def held_out_customers() -> tuple[set[str], set[str]]:
    """Run a 50% holdout SOP over 200 customers; the held-out ids for each message step."""
    base()
    events(*[added(f"c{i:03d}", tags=["VIP"]) for i in range(200)], now=local(2025, 2, 20, 9))
    load(doc([sop("promo", target={"tags_any": ["VIP"]}, holdout_percent=50,
                  steps=[step(0), step(1)])]), START)
    run_tick(START + timedelta(minutes=5))  # day 0 is 3/1
    run_tick(local(2025, 3, 2, 10))
    skipped = {}
    for position in (0, 1):
        rows = delivery_rows(position=position)
        assert len(rows) == 200
        assert {d.status for d in rows} <= {"pending", "skipped"}
        assert all(d.reason == "holdout" for d in rows if d.status == "skipped")
        skipped[position] = {d.customer.external_id for d in rows if d.status == "skipped"}
    return skipped[0], skipped[1]


def test_holdout_skips_messages_for_a_stable_deterministic_half():
    first, second = held_out_customers()
    assert 70 <= len(first) <= 130
    assert first == second  # the same customers on every step
    flagged = {e.customer.external_id for e in db.session.query(Enrollment) if e.holdout}
    assert flagged == first
    run_tick(local(2025, 3, 2, 10, 5))
    assert {d.customer.external_id for d in delivery_rows(status="skipped", position=0)} == first

    _wipe()
    again, _ = held_out_customers()
    assert again == first
    assert count(Delivery, Delivery.status == "skipped") == 2 * len(first)


def test_a_held_out_customer_stays_held_out_when_re_added_by_hand():
    from jobs.enrollments import held_out

    first, _ = held_out_customers()
    promo = sop_row("promo")
    # the one-customer rule agrees with the SQL one for every customer
    assert {e.customer.external_id for e in db.session.query(Enrollment)
            if held_out(promo, e.customer_id)} == first
    one = sorted(first)[0]
    lifecycle.end_customers(db.session, promo, [enrollment("promo", one).customer_id],
                            local(2025, 3, 2, 11))
    lifecycle.enroll_by_hand(db.session, promo, enrollment("promo", one).customer,
                             local(2025, 3, 3, 9))
    db.session.commit()
    run_tick(local(2025, 3, 3, 9, 5))
    again = [d for d in delivery_rows(one) if d.round == 2]
    assert [(d.position, d.status, d.reason) for d in again] == [(0, "skipped", "holdout")]


def test_holdout_works_for_customer_ids_beyond_the_32_bit_product():
    """id × 7919 passes 2**31 from id 271,184 on: PostgreSQL must not overflow."""
    from jobs.enrollments import held_out
    from models import Customer

    base()
    db.session.add(Customer(id=3_000_000, external_id="big", name="Big"))
    db.session.commit()
    events(tag_added("big", "VIP"), now=local(2025, 2, 20, 9))
    load(doc([sop("promo", target={"tags_any": ["VIP"]}, holdout_percent=50,
                  steps=[step(0)])]), START)
    run_tick(START + timedelta(minutes=5))
    e = enrollment("promo", "big")
    assert e is not None and e.holdout == held_out(sop_row("promo"), 3_000_000)
