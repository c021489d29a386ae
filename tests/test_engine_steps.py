"""SOP steps as the tick writes and runs them (SPEC §3): due times in the enterprise zone,
writing on the local day, internal steps (tag, stage, task), pausing, editing steps."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from jobs import lifecycle
from models import db
from tests.engine_support import (
    NEW_YORK, added, base, current_stage, customer, deliveries, delivery_rows, doc, enrollment,
    events, journal_of, journey, load, local, run_tick, send, sop, sop_row, step, tags_of, tasks,
)

T0 = local(2025, 3, 1, 8)
UTC = timezone.utc


@pytest.fixture(autouse=True)
def people():
    base()


def vip_sop(steps, **fields) -> dict:
    return sop("vip", target={"tags_any": ["VIP"]}, steps=steps, **fields)


def enter_vip(steps, at=None, settings=None, **fields) -> None:
    """Start the VIP nurture SOP an hour before `at` (default 3/1 09:00), add customer `c`
    with VIP at `at`, and tick right then."""
    at = at or local(2025, 3, 1, 9)
    load(doc([vip_sop(steps, **fields)], settings=settings), at - timedelta(hours=1))
    events(added("c", tags=["VIP"]), now=at)
    run_tick(at)


# --- due times ------------------------------------------------------------------------------
def test_steps_day_5_and_10_at_10_in_shanghai_are_due_at_exact_utc_instants():
    enter_vip([step(5), step(10)])
    run_tick(local(2025, 3, 11, 0, 1))
    dues = [d.due_at for d in delivery_rows("c")]
    assert dues == [datetime(2025, 3, 6, 2, 0, tzinfo=UTC), datetime(2025, 3, 11, 2, 0, tzinfo=UTC)]


def test_a_step_crossing_the_dst_change_keeps_its_local_time():
    # New York moves to daylight time on 2025-03-09
    enter_vip([step(0), step(5)], at=local(2025, 3, 5, 8, tz=NEW_YORK),
              settings={"timezone": "America/New_York"})
    assert enrollment("vip", "c").day0 == date(2025, 3, 5)
    run_tick(local(2025, 3, 10, 0, 30, tz=NEW_YORK))

    first, second = (d.due_at for d in delivery_rows("c"))
    assert first == datetime(2025, 3, 5, 15, 0, tzinfo=UTC)
    assert second == datetime(2025, 3, 10, 14, 0, tzinfo=UTC)
    assert first.astimezone(NEW_YORK).utcoffset() == timedelta(hours=-5)
    assert second.astimezone(NEW_YORK).utcoffset() == timedelta(hours=-4)
    assert [d[1].strftime("%H:%M") for d in deliveries("vip", "c")] == ["10:00", "10:00"]


def test_the_local_day_follows_the_enterprise_zone_not_utc():
    # 3/5 21:00 in New York is 3/6 02:00 UTC: day 0 is still 3/5 there
    enter_vip([step(1)], at=local(2025, 3, 5, 21, tz=NEW_YORK),
              settings={"timezone": "America/New_York"})
    assert enrollment("vip", "c").day0 == date(2025, 3, 5)
    assert delivery_rows("c") == []  # day 1 (3/6 local) has not come yet
    run_tick(local(2025, 3, 6, 0, 1, tz=NEW_YORK))
    assert deliveries("vip", "c") == [(0, local(2025, 3, 6, 10, tz=NEW_YORK), "pending")]


def test_a_step_already_past_at_entry_is_due_at_the_entry_instant():
    enter_vip([step(0, "09:00"), step(0, "12:00")], at=local(2025, 3, 1, 11))
    assert enrollment("vip", "c").enrolled_at == local(2025, 3, 1, 11)
    assert deliveries("vip", "c") == [(0, local(2025, 3, 1, 11), "pending"),
                                      (1, local(2025, 3, 1, 12), "pending")]


def test_a_step_is_written_when_its_local_day_comes():
    enter_vip([step(5)])
    run_tick(local(2025, 3, 5, 23, 59))  # day 4, one minute before midnight
    assert deliveries("vip", "c") == []
    run_tick(local(2025, 3, 6, 0, 1))  # day 5
    assert deliveries("vip", "c") == [(0, local(2025, 3, 6, 10), "pending")]
    d = delivery_rows("c")[0]
    assert (d.action, d.sender.userid, d.sop.key) == ("message", "zhangsan", "vip")


# --- internal steps ---------------------------------------------------------------------
def test_tag_and_stage_steps_run_at_their_due_time():
    events(added("c", tags=["VIP", "旧标签"]), now=local(2025, 3, 1, 7))
    load(doc([vip_sop([step(0, "10:00", "tag", add_tags=["新标签"], remove_tags=["旧标签"]),
                       step(0, "11:00", "stage", stage="忠实")])]), T0)
    run_tick(local(2025, 3, 1, 9))
    assert [d[2] for d in deliveries("vip", "c")] == ["pending", "pending"]
    assert set(tags_of("c")) == {"VIP", "旧标签"}

    run_tick(local(2025, 3, 1, 10))
    assert set(tags_of("c")) == {"VIP", "新标签"}
    assert tags_of("c")["新标签"] == "sop"
    tag_step, stage_step = delivery_rows("c")
    assert (tag_step.status, tag_step.sent_at) == ("sent", local(2025, 3, 1, 10))
    assert stage_step.status == "pending"
    assert customer("c").lifecycle_stage is None
    assert journal_of("c", source="sop") == [
        ("tags", {"added": ["新标签"], "removed": ["旧标签"]})]

    run_tick(local(2025, 3, 1, 11))
    assert customer("c").lifecycle_stage == "忠实"
    assert delivery_rows("c")[1].status == "sent"
    assert journal_of("c", source="sop")[1] == ("stage", {"from": None, "to": "忠实"})


def test_task_steps_create_tasks_for_the_owner_a_role_or_an_employee():
    enter_vip([step(0, "10:00", "task", title="负责人回访", assignee="owner", deadline_hours=48),
               step(0, "10:00", "task", title="客服联系", assignee="role:service",
                    deadline_hours=24, text="了解问题"),
               step(1, "09:00", "task", title="李四跟进", assignee="employee:lisi",
                    deadline_hours=8)])
    assert tasks() == []
    run_tick(local(2025, 3, 1, 10))
    run_tick(local(2025, 3, 2, 9))

    due0, due1 = local(2025, 3, 1, 10), local(2025, 3, 2, 9)
    got = {t.title: (t.kind, t.status, t.employee.userid if t.employee else None, t.role,
                     t.customer.external_id, t.sop.key, t.due_at, t.deadline_at - t.due_at)
           for t in tasks()}
    hours = [timedelta(hours=h) for h in (48, 24, 8)]
    assert got == {
        "负责人回访": ("step", "open", "zhangsan", None, "c", "vip", due0, hours[0]),
        "客服联系": ("step", "open", None, "service", "c", "vip", due0, hours[1]),
        "李四跟进": ("step", "open", "lisi", None, "c", "vip", due1, hours[2]),
    }
    by_task = {t.id: t.title for t in tasks()}
    rows = delivery_rows("c")
    assert [(d.status, by_task[d.task_id]) for d in rows] == [
        ("queued", "负责人回访"), ("queued", "客服联系"), ("queued", "李四跟进")]
    assert enrollment("vip", "c").status == "completed"  # every step handed over


# --- paused SOPs ------------------------------------------------------------------------------
def test_a_paused_sop_writes_and_hands_over_nothing_until_resumed():
    enter_vip([step(0), step(5)])
    assert deliveries("vip", "c") == [(0, local(2025, 3, 1, 10), "pending")]
    lifecycle.pause(db.session, sop_row("vip"), local(2025, 3, 1, 9, 30))
    db.session.commit()

    assert send(local(2025, 3, 1, 10))["deliveries"] == 0
    run_tick(local(2025, 3, 6, 10))
    assert deliveries("vip", "c") == [(0, local(2025, 3, 1, 10), "pending")]
    assert tasks() == []

    lifecycle.resume(db.session, sop_row("vip"), local(2025, 3, 7, 9))
    db.session.commit()
    run_tick(local(2025, 3, 7, 9, 5))
    assert deliveries("vip", "c") == [(0, local(2025, 3, 1, 10), "pending"),
                                      (1, local(2025, 3, 6, 10), "pending")]
    assert send(local(2025, 3, 7, 9, 10))["deliveries"] == 2
    assert [d[2] for d in deliveries("vip", "c")] == ["queued", "queued"]


# --- editing a running SOP's steps -------------------------------------------------------------
def edit_steps(steps, at) -> None:
    load(doc([vip_sop(steps)]), at)


def test_a_step_added_to_a_running_sop_reaches_its_active_enrollments():
    enter_vip([step(0, key="a")], at=local(2025, 3, 1, 9))  # customer "c"
    send(local(2025, 3, 1, 10))
    run_tick(local(2025, 3, 1, 10, 5))
    assert enrollment("vip", "c").status == "completed"
    events(added("active", tags=["VIP"]), now=local(2025, 3, 2, 9))
    run_tick(local(2025, 3, 2, 9, 5))  # every step written, its send still pending
    assert deliveries("vip", "active") == [(0, local(2025, 3, 2, 10), "pending")]

    edit_steps([step(0, key="a"), step(2, key="b")], local(2025, 3, 2, 9, 30))
    run_tick(local(2025, 3, 4, 0, 30))

    assert deliveries("vip", "active") == [(0, local(2025, 3, 2, 10), "pending"),
                                           (1, local(2025, 3, 4, 10), "pending")]
    assert [d[0] for d in deliveries("vip", "c")] == [0]  # a completed enrollment stays so
    assert enrollment("vip", "c").status == "completed"


def test_deleting_a_step_cancels_its_pending_sends():
    enter_vip([step(1, key="a"), step(5, key="b")])
    run_tick(local(2025, 3, 2, 0, 30))
    assert deliveries("vip", "c") == [(0, local(2025, 3, 2, 10), "pending")]

    edit_steps([step(5, key="b")], local(2025, 3, 2, 8))
    assert [(d.status, d.reason) for d in delivery_rows("c")] == [("cancelled", "step deleted")]
    run_tick(local(2025, 3, 6, 0, 30))
    assert deliveries("vip", "c") == [(0, local(2025, 3, 2, 10), "cancelled"),
                                      (0, local(2025, 3, 6, 10), "pending")]


def test_moving_a_step_rewrites_its_pending_sends_at_the_new_time():
    enter_vip([step(1, key="a"), step(3, key="b")])
    run_tick(local(2025, 3, 2, 0, 30))
    assert deliveries("vip", "c") == [(0, local(2025, 3, 2, 10), "pending")]

    edit_steps([step(1, "16:30", key="a"), step(3, key="b")], local(2025, 3, 2, 8))
    run_tick(local(2025, 3, 2, 8, 5))
    assert deliveries("vip", "c") == [(0, local(2025, 3, 2, 16, 30), "pending")]

    send(local(2025, 3, 2, 17))  # handed over: a later move leaves it as it was sent
    edit_steps([step(2, key="a"), step(3, key="b")], local(2025, 3, 2, 18))
    run_tick(local(2025, 3, 3, 0, 30))
    assert deliveries("vip", "c") == [(0, local(2025, 3, 2, 16, 30), "queued")]


def test_steps_not_yet_sent_use_edited_text_and_sent_ones_keep_theirs():
    enter_vip([step(0, key="a", text="旧一"), step(1, key="b", text="旧二")])
    send(local(2025, 3, 1, 10))
    edit_steps([step(0, key="a", text="新一"), step(1, key="b", text="新二")],
               local(2025, 3, 1, 12))
    run_tick(local(2025, 3, 2, 9))
    send(local(2025, 3, 2, 10))

    assert [(d.status, d.text, d.task.text) for d in delivery_rows("c")] == [
        ("queued", "旧一", "旧一"), ("queued", "新二", "新二")]


# --- cascades within one tick ------------------------------------------------------------------
def test_changes_made_by_steps_end_other_sops_and_move_journeys_in_the_same_tick():
    load(doc([vip_sop([step(0, "10:00", "tag", add_tags=["已复购"]),
                       step(0, "10:00", "stage", stage="付费")]),
              sop("offer", target={"tags_any": ["VIP"]}, steps=[step(3)],
                  early_end={"when": {"tags_any": ["已复购"]}, "add_tags": ["提前结束"]})],
             journeys=[journey("dental", [
                 {"key": "paid", "name": "付费", "rules": [{"stage": "付费"}]}])]), T0)
    events(added("c", tags=["VIP"]), now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))
    assert enrollment("offer", "c").status == "active"

    run_tick(local(2025, 3, 1, 10))
    assert enrollment("offer", "c").status == "ended_early"
    assert tags_of("c")["提前结束"] == "sop"
    assert current_stage("dental", "c") == "paid"
