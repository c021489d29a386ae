"""How SOP enrollments end (SPEC §3): early end, normal end, manual end, flows between
SOPs, and the one-enrollment-per-SOP rule with its re-add by hand."""
from __future__ import annotations

from datetime import date

import pytest

from jobs import lifecycle
from models import Enrollment, db
from tests.engine_support import (
    added, base, count, customer, deliveries, delivery_rows, enrolled, enrollment, events,
    local, paid_customers, run_tick, send, sop, sop_row, stage_changed, started, step,
    tag_added, tag_removed, tags_of, welcome,
)


@pytest.fixture(autouse=True)
def people():
    base()


# --- flows and the entry conflict ------------------------------------------------------------
FLOWS = (
    welcome(early_end={"when": {"tags_any": ["已复购"]}, "add_tags": ["提前结束"],
                       "flow_to": "care"}),
    sop("care", target={"tags_any": ["VIP"]}, early_end={"when": {"tags_any": ["已复购"]}},
        steps=[step(3)]),
)


def test_a_customer_arriving_by_flow_enters_despite_the_early_end_condition():
    started(*FLOWS)
    events(added("fan", tags=["购买防晒正装"]), now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))
    # VIP makes the customer match care's target, 已复购 its early end: no direct entry,
    # but the early end of welcome flows the customer in
    events(tag_added("fan", "VIP", "已复购"), now=local(2025, 3, 2, 9))
    run_tick(local(2025, 3, 2, 9, 5))

    care = enrollment("care", "fan")
    assert (care.status, care.flowed_from_id, care.day0) == (
        "active", sop_row("welcome").id, date(2025, 3, 2))
    assert enrollment("welcome", "fan").status == "ended_early"


def test_a_change_that_does_not_touch_the_early_end_condition_does_not_end_it():
    started(*FLOWS)
    events(added("fan", tags=["购买防晒正装"]), now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))
    events(tag_added("fan", "VIP", "已复购"), now=local(2025, 3, 2, 9))
    run_tick(local(2025, 3, 2, 9, 5))

    # the flow arrival already had 已复购: an unrelated tag does not end it
    events(tag_added("fan", "无关"), now=local(2025, 3, 3, 9))
    run_tick(local(2025, 3, 3, 9, 5))
    assert enrollment("care", "fan").status == "active"
    run_tick(local(2025, 3, 5, 10))
    assert deliveries("care", "fan") == [(0, local(2025, 3, 5, 10), "pending")]

    # removing and adding 已复购 again is a change that makes it true
    events(tag_removed("fan", "已复购"), now=local(2025, 3, 6, 9))
    run_tick(local(2025, 3, 6, 9, 5))
    assert enrollment("care", "fan").status == "active"
    events(tag_added("fan", "已复购"), now=local(2025, 3, 7, 9))
    run_tick(local(2025, 3, 7, 9, 5))
    assert enrollment("care", "fan").status == "ended_early"


# --- early, normal and manual end ------------------------------------------------------------
def test_early_end_cancels_pending_sends_adds_tags_and_flows_into_the_nurture_sop():
    started(welcome(early_end={"when": {"tags_any": ["已复购"]}, "add_tags": ["提前结束"],
                               "flow_to": "care"}),
            sop("care", target={"stages": ["忠实"]}, steps=[step(0, "12:00")]))
    events(added("fan", tags=["购买防晒正装"]), now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 2, 0, 30))
    assert deliveries("welcome", "fan") == [(0, local(2025, 3, 2, 10), "pending")]

    events(tag_added("fan", "已复购"), now=local(2025, 3, 2, 8))
    run_tick(local(2025, 3, 2, 8, 5))

    e = enrollment("welcome", "fan")
    assert (e.status, e.ended_at) == ("ended_early", local(2025, 3, 2, 8, 5))
    assert e.flow_result.startswith("entered"), e.flow_result
    assert deliveries("welcome", "fan") == [(0, local(2025, 3, 2, 10), "cancelled")]
    assert tags_of("fan")["提前结束"] == "sop"
    care = enrollment("care", "fan")
    assert (care.status, care.flowed_from_id, care.day0) == (
        "active", sop_row("welcome").id, date(2025, 3, 2))
    assert deliveries("care", "fan") == [(0, local(2025, 3, 2, 12), "pending")]

    run_tick(local(2025, 3, 6, 10))  # the day-5 step of the ended enrollment never comes
    assert [d[2] for d in deliveries("welcome", "fan")] == ["cancelled"]


def test_early_end_on_a_lifecycle_stage_fires_only_for_a_listed_stage():
    started(sop("vip", target={"tags_any": ["VIP"]}, steps=[step(3)],
                early_end={"when": {"stages": ["付费"]}}))
    events(added("a", tags=["VIP"]), added("b", tags=["VIP"]), now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))
    events(stage_changed("a", "付费"), stage_changed("b", "新客户"), now=local(2025, 3, 2, 9))
    run_tick(local(2025, 3, 2, 9, 5))
    assert (enrollment("vip", "a").status, enrollment("vip", "b").status) == (
        "ended_early", "active")


def test_normal_end_once_every_step_is_handed_over_adds_tags_and_flows():
    paid_customers("paid")
    started(sop("short", target={"stages": ["付费"]}, steps=[step(0), step(1)],
                normal_end={"add_tags": ["SOP完成"], "flow_to": "care"}),
            sop("care", target={"tags_any": ["VIP"]}, steps=[step(7)]))
    run_tick(local(2025, 3, 2, 9))
    assert [d[2] for d in deliveries("short", "paid")] == ["pending", "pending"]

    send(local(2025, 3, 2, 9, 30))  # only day 0 is due yet
    run_tick(local(2025, 3, 2, 9, 35))
    assert enrollment("short", "paid").status == "active"
    assert [d[2] for d in deliveries("short", "paid")] == ["queued", "pending"]

    send(local(2025, 3, 2, 10))
    run_tick(local(2025, 3, 2, 10, 5))
    e = enrollment("short", "paid")
    assert (e.status, e.ended_at) == ("completed", local(2025, 3, 2, 10, 5))
    assert tags_of("paid")["SOP完成"] == "sop"
    care = enrollment("care", "paid")
    assert (care.status, care.flowed_from_id) == ("active", sop_row("short").id)


def test_a_flow_into_an_sop_the_customer_was_already_in_is_skipped_and_recorded():
    started(welcome(early_end={"when": {"tags_any": ["已复购"]}, "flow_to": "care"}),
            sop("care", target={"tags_any": ["VIP"]}, steps=[step(3)]))
    events(added("in_care", tags=["购买防晒正装", "VIP"]),
           added("left_care", tags=["购买防晒正装", "VIP"]), now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))
    assert enrolled("care") == {"in_care", "left_care"}
    care = sop_row("care")
    lifecycle.end_customers(db.session, care, [customer("left_care").id], local(2025, 3, 1, 12))
    db.session.commit()

    events(tag_added("in_care", "已复购"), tag_added("left_care", "已复购"),
           now=local(2025, 3, 2, 9))
    run_tick(local(2025, 3, 2, 9, 5))

    for external_id, status in (("in_care", "active"), ("left_care", "ended_manual")):
        ended = enrollment("welcome", external_id)
        assert ended.status == "ended_early"
        assert ended.flow_result.startswith("skipped"), ended.flow_result
        assert count(Enrollment, Enrollment.customer_id == customer(external_id).id,
                     Enrollment.sop_id == care.id) == 1
        kept = enrollment("care", external_id)
        assert (kept.status, kept.flowed_from_id, kept.enrolled_at, kept.round) == (
            status, None, local(2025, 3, 1, 9, 5), 1)


def test_one_enrollment_per_sop_and_customer_and_a_re_add_by_hand_starts_round_2():
    started(sop("vip", target={"tags_any": ["VIP"]}, steps=[step(0), step(3)]))
    events(added("c", tags=["VIP"]), now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))
    vip = sop_row("vip")
    lifecycle.end_customers(db.session, vip, [customer("c").id], local(2025, 3, 2, 9))
    db.session.commit()
    # matching again does not bring the customer back
    events(tag_removed("c", "VIP"), now=local(2025, 3, 3, 9))
    run_tick(local(2025, 3, 3, 9, 5))
    events(tag_added("c", "VIP"), now=local(2025, 3, 4, 9))
    run_tick(local(2025, 3, 4, 9, 5))
    assert count(Enrollment, Enrollment.sop_id == vip.id) == 1
    assert enrollment("vip", "c").status == "ended_manual"

    lifecycle.enroll_by_hand(db.session, sop_row("vip"), customer("c"), local(2025, 3, 10, 9))
    db.session.commit()
    e = enrollment("vip", "c")
    assert (e.status, e.round, e.day0, e.ended_at) == ("active", 2, date(2025, 3, 10), None)
    assert count(Enrollment, Enrollment.sop_id == vip.id) == 1

    run_tick(local(2025, 3, 10, 9, 5))
    round2 = [(d.round, d.position, d.due_at, d.status) for d in delivery_rows("c", round=2)]
    assert round2 == [(2, 0, local(2025, 3, 10, 10), "pending")]
    assert [d.status for d in delivery_rows("c", round=1)] == ["cancelled"]
    with pytest.raises(lifecycle.LifecycleError):
        lifecycle.enroll_by_hand(db.session, sop_row("vip"), customer("c"), local(2025, 3, 11))


def test_manual_end_of_several_customers_with_tags_and_flow():
    started(sop("vip", target={"tags_any": ["VIP"]}, steps=[step(0), step(3)]),
            sop("care", target={"stages": ["忠实"]}, steps=[step(1)]))
    events(*[added(x, tags=["VIP"]) for x in ("a", "b", "stays")], now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))

    ended = lifecycle.end_customers(
        db.session, sop_row("vip"), [customer("a").id, customer("b").id],
        local(2025, 3, 1, 9, 30), add_tags=["回访完成"], flow_to=sop_row("care"))
    db.session.commit()

    assert ended == 2
    for x in ("a", "b"):
        e = enrollment("vip", x)
        assert (e.status, e.ended_at) == ("ended_manual", local(2025, 3, 1, 9, 30))
        assert [d[2] for d in deliveries("vip", x)] == ["cancelled"]
        assert tags_of(x)["回访完成"] == "sop"
        assert enrollment("care", x).flowed_from_id == sop_row("vip").id
    assert enrollment("vip", "stays").status == "active"
    assert [d[2] for d in deliveries("vip", "stays")] == ["pending"]
    assert enrollment("care", "stays") is None


def test_manual_end_refuses_a_flow_into_a_non_nurture_sop_and_changes_nothing():
    started(sop("vip", target={"tags_any": ["VIP"]}, steps=[step(3)]), welcome())
    events(added("c", tags=["VIP"]), now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))

    with pytest.raises(lifecycle.LifecycleError, match="nurture"):
        lifecycle.end_customers(db.session, sop_row("vip"), [customer("c").id],
                                local(2025, 3, 1, 10), add_tags=["回访完成"],
                                flow_to=sop_row("welcome"))
    db.session.rollback()
    assert enrollment("vip", "c").status == "active"
    assert "回访完成" not in tags_of("c")
