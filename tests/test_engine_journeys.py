"""Customer journeys (SPEC §4): automatic and manual placement, reminders, data sync."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from jobs import lifecycle
from models import JourneyPlacement, db
from tests.engine_support import (
    added, base, count, current_stage, customer, delivery_rows, doc, events, import_problems,
    journey, journey_row, load, local, lost, placements, reminders, run_tick, send,
    stage_changed, stage_row, tag_added, tag_removed, tasks,
)

T0 = local(2025, 3, 1, 8)
STAGES = [
    {"key": "new", "name": "新用户", "rules": [{"stage": "潜在"}, {"stage": "新客户"}]},
    {"key": "paid", "name": "付费用户", "rules": [{"stage": "付费"}, {"stage": "忠实"}]},
    {"key": "extracted", "name": "拔牙后",
     "rules": [{"tags_any": ["拔牙"]}, {"all": [{"tags_any": ["种牙"]}, {"stage": "付费"}]}],
     "reminders": [{"day": 1, "hour": 9, "text": "拔牙后注意事项"},
                   {"day": 7, "hour": 9, "text": "请到店复查拆线"}]},
    {"key": "lost", "name": "流失用户", "rules": [{"churn_status": "lost"}],
     "reminders": [{"day": 0, "hour": 10, "kind": "followup", "text": "流失客户挽回"}]},
]


@pytest.fixture(autouse=True)
def people():
    base()


def dental(**fields) -> dict:
    return journey("dental", STAGES, **fields)


def open_placements_per_customer() -> list[int]:
    return list(db.session.scalars(
        select(func.count()).select_from(JourneyPlacement)
        .where(JourneyPlacement.left_at.is_(None))
        .group_by(JourneyPlacement.journey_id, JourneyPlacement.customer_id)))


def test_automation_places_a_customer_in_the_last_matching_stage():
    load(doc(journeys=[dental()]), T0)
    events(added("both"), added("prospect"), added("implant"), added("nobody"),
           now=local(2025, 3, 1, 9))
    events(stage_changed("both", "付费"), tag_added("both", "拔牙"),
           stage_changed("prospect", "潜在"),
           stage_changed("implant", "付费"), tag_added("implant", "种牙"),
           now=local(2025, 3, 1, 9, 1))
    run_tick(local(2025, 3, 1, 9, 5))

    assert current_stage("dental", "both") == "extracted"  # paid matches too, but comes first
    assert current_stage("dental", "prospect") == "new"
    assert current_stage("dental", "implant") == "extracted"  # the {all: ...} rule
    assert placements("dental", "nobody") == []
    p = placements("dental", "both")[0]
    assert (p.entered_at, p.manual, p.stage.key) == (local(2025, 3, 1, 9, 5), False, "extracted")


def test_a_later_change_moves_the_customer_and_cancels_the_old_stage_reminders():
    load(doc(journeys=[dental()]), T0)
    events(added("c"), now=local(2025, 3, 1, 9))
    events(stage_changed("c", "付费"), now=local(2025, 3, 1, 9, 1))
    run_tick(local(2025, 3, 1, 9, 5))
    events(tag_added("c", "拔牙"), now=local(2025, 3, 1, 15))
    run_tick(local(2025, 3, 1, 15, 5))
    run_tick(local(2025, 3, 2, 0, 30))  # day 1 has come: its reminder is written
    assert [(r[0], r[3]) for r in reminders("dental", "c")] == [("extracted", "pending")]

    events(lost("c"), now=local(2025, 3, 2, 8))
    run_tick(local(2025, 3, 2, 8, 5))

    paid, extracted, gone = placements("dental", "c")
    assert (paid.stage.key, paid.left_at) == ("paid", local(2025, 3, 1, 15, 5))
    assert (extracted.stage.key, extracted.left_at) == ("extracted", local(2025, 3, 2, 8, 5))
    assert (gone.stage.key, gone.left_at, gone.entered_at) == (
        "lost", None, local(2025, 3, 2, 8, 5))
    assert [(r[0], r[3]) for r in reminders("dental", "c")] == [
        ("extracted", "cancelled"), ("lost", "pending")]
    assert open_placements_per_customer() == [1]


def test_a_customer_who_matches_no_stage_any_more_leaves_the_journey():
    load(doc(journeys=[dental()]), T0)
    events(added("c", tags=["拔牙"]), now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))
    assert current_stage("dental", "c") == "extracted"
    events(tag_removed("c", "拔牙"), now=local(2025, 3, 1, 10))
    run_tick(local(2025, 3, 1, 10, 5))
    assert current_stage("dental", "c") is None
    assert placements("dental", "c")[0].left_at == local(2025, 3, 1, 10, 5)


def test_at_most_one_open_placement_per_journey_however_often_the_customer_changes():
    load(doc(journeys=[dental(), journey("second", STAGES[:2])]), T0)
    events(added("c"), now=local(2025, 3, 1, 9))
    moves = [stage_changed("c", "潜在"), stage_changed("c", "付费"), tag_added("c", "拔牙"),
             stage_changed("c", "忠实"), tag_removed("c", "拔牙"), lost("c")]
    for hour, move in enumerate(moves, start=10):
        events(move, now=local(2025, 3, 1, hour))
        run_tick(local(2025, 3, 1, hour, 5))
        run_tick(local(2025, 3, 1, hour, 6))
        assert open_placements_per_customer() == [1, 1]
    assert (current_stage("dental", "c"), current_stage("second", "c")) == ("lost", "paid")
    assert [p.stage.key for p in placements("dental", "c")] == [
        "new", "paid", "extracted", "paid", "lost"]


def test_with_automation_off_changes_place_no_one_and_ops_place_by_hand():
    load(doc(journeys=[dental(automation=False)]), T0)
    events(added("c", tags=["拔牙"]), now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))
    assert placements("dental", "c") == []

    lifecycle.place_customer(db.session, journey_row("dental"), stage_row("dental", "paid"),
                             customer("c"), local(2025, 3, 1, 10))
    db.session.commit()
    events(lost("c"), now=local(2025, 3, 1, 11))
    run_tick(local(2025, 3, 1, 11, 5))
    [p] = placements("dental", "c")
    assert (p.stage.key, p.manual, p.entered_at, p.left_at) == (
        "paid", True, local(2025, 3, 1, 10), None)

    lifecycle.place_customer(db.session, journey_row("dental"), stage_row("dental", "extracted"),
                             customer("c"), local(2025, 3, 1, 12))
    db.session.commit()
    assert current_stage("dental", "c") == "extracted"
    run_tick(local(2025, 3, 2, 0, 30))
    assert [(r[0], r[2]) for r in reminders("dental", "c")] == [
        ("extracted", local(2025, 3, 2, 9))]


def test_a_hand_placement_in_a_stage_of_another_journey_is_refused():
    load(doc(journeys=[dental(automation=False), journey("second", STAGES[:2])]), T0)
    events(added("c"), now=local(2025, 3, 1, 9))
    with pytest.raises(lifecycle.LifecycleError):
        lifecycle.place_customer(db.session, journey_row("dental"), stage_row("second", "new"),
                                 customer("c"), local(2025, 3, 1, 10))
    db.session.rollback()
    assert placements("dental", "c") == []


def test_stage_reminders_are_due_on_day_n_at_hour_h_for_the_owner():
    load(doc(journeys=[dental()]), T0)
    events(added("c", owner="lisi"), now=local(2025, 3, 1, 9))
    events(tag_added("c", "拔牙"), now=local(2025, 3, 1, 15))
    run_tick(local(2025, 3, 1, 15, 5))
    assert reminders("dental", "c") == []  # day 1 has not come

    run_tick(local(2025, 3, 2, 0, 30))
    assert reminders("dental", "c") == [
        ("extracted", 0, local(2025, 3, 2, 9), "pending", "lisi")]
    run_tick(local(2025, 3, 8, 0, 30))
    assert reminders("dental", "c") == [
        ("extracted", 0, local(2025, 3, 2, 9), "pending", "lisi"),
        ("extracted", 1, local(2025, 3, 8, 9), "pending", "lisi")]

    assert {d.action for d in delivery_rows("c")} == {"reminder"}
    send(local(2025, 3, 8, 9))  # reminders become inbox tasks for the owner
    assert [r[3] for r in reminders("dental", "c")] == ["queued", "queued"]
    assert {(t.kind, t.employee.userid) for t in tasks()} == {("reminder", "lisi")}


def test_a_reminder_already_past_when_the_stage_is_entered_is_due_at_entry():
    load(doc(journeys=[dental()]), T0)
    events(added("c"), now=local(2025, 3, 1, 9))
    events(lost("c"), now=local(2025, 3, 1, 11))
    run_tick(local(2025, 3, 1, 11, 5))  # the day-0 10:00 reminder is already past
    assert reminders("dental", "c") == [
        ("lost", 0, local(2025, 3, 1, 11, 5), "pending", "zhangsan")]


def test_a_reminder_added_or_switched_on_reaches_customers_already_in_the_stage():
    load(doc(journeys=[dental(followup_reminders=False)]), T0)
    events(added("c", tags=["拔牙"]), added("gone"), now=local(2025, 3, 1, 9))
    events(lost("gone"), now=local(2025, 3, 1, 9, 1))
    run_tick(local(2025, 3, 1, 9, 5))
    run_tick(local(2025, 3, 2, 0, 30))
    assert reminders("dental", "c") == [("extracted", 0, local(2025, 3, 2, 9), "pending",
                                         "zhangsan")]
    assert reminders("dental", "gone") == []

    stages = [dict(s) for s in STAGES]
    stages[2] = {**stages[2], "reminders": [*stages[2]["reminders"],
                                            {"day": 2, "hour": 15, "text": "复诊提醒"}]}
    load(doc(journeys=[journey("dental", stages)]), local(2025, 3, 2, 8))  # switch back on
    run_tick(local(2025, 3, 3, 0, 30))
    assert reminders("dental", "c") == [
        ("extracted", 0, local(2025, 3, 2, 9), "pending", "zhangsan"),
        ("extracted", 2, local(2025, 3, 3, 15), "pending", "zhangsan")]
    # the follow-up reminder of the stage "gone" has been in since 3/1: already overdue
    assert reminders("dental", "gone") == [("lost", 0, local(2025, 3, 1, 10), "pending",
                                            "zhangsan")]


@pytest.mark.parametrize("switch, kept", [("stage_reminders", "lost"),
                                          ("followup_reminders", "extracted")])
def test_a_reminder_kind_switched_off_writes_no_reminders(switch, kept):
    load(doc(journeys=[dental(**{switch: False})]), T0)
    events(added("pulled", tags=["拔牙"]), added("gone"), now=local(2025, 3, 1, 9))
    events(lost("gone"), now=local(2025, 3, 1, 9, 1))
    run_tick(local(2025, 3, 1, 9, 5))
    run_tick(local(2025, 3, 9, 0, 30))
    assert {current_stage("dental", "pulled"), current_stage("dental", "gone")} == {
        "extracted", "lost"}
    assert {r[0] for r in reminders("dental")} == {kept}


def test_sync_places_every_existing_customer_and_locks_the_journey_meanwhile():
    events(added("pulled", tags=["拔牙"]), added("payer"), added("nobody"),
           now=local(2025, 2, 20, 9))
    events(stage_changed("payer", "付费"), now=local(2025, 2, 20, 9, 1))
    run_tick(local(2025, 2, 20, 10))  # their changes are read before the journey exists
    load(doc(journeys=[dental()]), T0)
    run_tick(local(2025, 3, 1, 8, 5))
    assert count(JourneyPlacement) == 0

    lifecycle.start_sync(db.session, journey_row("dental"), local(2025, 3, 1, 9))
    db.session.commit()
    j = journey_row("dental")
    assert (j.sync_started_at, j.sync_progress) == (local(2025, 3, 1, 9), 0)
    problems = import_problems(doc(journeys=[dental(name="改名")]), local(2025, 3, 1, 9, 1))
    assert any("sync" in p for p in problems), problems
    assert journey_row("dental").name == "dental"
    with pytest.raises(lifecycle.LifecycleError):
        lifecycle.start_sync(db.session, journey_row("dental"), local(2025, 3, 1, 9, 2))
    db.session.rollback()

    run_tick(local(2025, 3, 1, 9, 5))
    j = journey_row("dental")
    assert (j.sync_started_at, j.sync_progress, j.synced_at) == (
        None, 100, local(2025, 3, 1, 9, 5))
    assert (current_stage("dental", "pulled"), current_stage("dental", "payer"),
            current_stage("dental", "nobody")) == ("extracted", "paid", None)
    load(doc(journeys=[dental(name="改名")]), local(2025, 3, 1, 9, 10))  # editable again
    assert journey_row("dental").name == "改名"
    assert [(r[0], r[2]) for r in reminders("dental")] == []
    run_tick(local(2025, 3, 2, 0, 30))
    assert [(r[0], r[2]) for r in reminders("dental")] == [("extracted", local(2025, 3, 2, 9))]


def test_a_disabled_journey_places_no_one_and_cannot_sync():
    load(doc(journeys=[dental(enabled=False)]), T0)
    events(added("c", tags=["拔牙"]), now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))
    assert placements("dental", "c") == []
    with pytest.raises(lifecycle.LifecycleError):
        lifecycle.start_sync(db.session, journey_row("dental"), local(2025, 3, 1, 10))
    db.session.rollback()
    assert journey_row("dental").sync_started_at is None


def test_a_new_customer_matching_a_stage_is_placed_on_the_add_tick():
    load(doc(journeys=[dental()]), T0)
    events(added("c", tags=["拔牙"]), now=local(2025, 3, 1, 9))
    assert placements("dental", "c") == []
    run_tick(local(2025, 3, 1, 9, 5))
    assert current_stage("dental", "c") == "extracted"
    assert placements("dental", "c")[0].entered_at - local(2025, 3, 1, 9) == timedelta(minutes=5)
