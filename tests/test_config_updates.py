"""Config as code against the database: updates by key, the target lock, references."""
from __future__ import annotations


import pytest

from jobs.evaluator import tick
from models.base import utcnow
from sqlalchemy import func, select

from models import (
    AuditLog, Journey, JourneyStage, SopStep, SopVersion, db,
)
from config_io.importer import export_document
from tests.config_io_support import (
    care_doc, full_doc, import_ok,
    import_problems, keyed_steps, sop_by_key, step_ids,
)


# --- updates by key -------------------------------------------------------------------------
def test_changed_step_text_updates_in_place():
    import_ok(care_doc(keyed_steps(a="一", b="二", c="三")))
    ids = step_ids()
    import_ok(care_doc(keyed_steps(a="一", b="二改", c="三")))
    assert step_ids() == ids
    assert [s.text for s in sop_by_key("care").steps] == ["一", "二改", "三"]


def test_unkeyed_steps_keep_their_rows_by_position():
    steps = [{"day": d, "at": "10:00", "action": "message", "text": f"第{d}天"} for d in (0, 3)]
    import_ok(care_doc(steps))
    ids = step_ids()
    steps[1]["text"] = "改了"
    import_ok(care_doc(steps))
    assert step_ids() == ids
    assert [s.text for s in sop_by_key("care").steps] == ["第0天", "改了"]


def unkeyed(*days, edit: dict | None = None) -> list[dict]:
    texts = {d: f"第{d}天" for d in days} | (edit or {})
    return [{"day": d, "at": "10:00", "action": "message", "text": texts[d]} for d in days]


def test_removing_an_unkeyed_step_deletes_that_step_and_no_other():
    import_ok(care_doc(unkeyed(0, 3, 7)))
    ids = step_ids()  # by position
    import_ok(care_doc(unkeyed(0, 7)))
    steps = sop_by_key("care").steps
    assert [(s.id, s.text) for s in steps] == [(ids[0], "第0天"), (ids[2], "第7天")]
    assert db.session.get(SopStep, ids[1]) is None


def test_inserting_an_unkeyed_step_keeps_the_other_rows():
    import_ok(care_doc(unkeyed(3, 7)))
    ids = step_ids()
    import_ok(care_doc(unkeyed(0, 3, 7)))
    steps = sop_by_key("care").steps
    assert [s.id for s in steps[1:]] == [ids[0], ids[1]]
    assert steps[0].id not in ids.values()


def test_removing_one_unkeyed_step_and_editing_another():
    import_ok(care_doc(unkeyed(0, 3, 7)))
    ids = step_ids()
    import_ok(care_doc(unkeyed(0, 7, edit={7: "改过的第7天"})))
    steps = sop_by_key("care").steps
    assert [(s.id, s.text) for s in steps] == [(ids[0], "第0天"), (ids[2], "改过的第7天")]


def test_removing_a_step_deletes_it():
    import_ok(care_doc(keyed_steps(a="一", b="二", c="三")))
    ids = step_ids()
    import_ok(care_doc(keyed_steps(a="一", c="三")))
    assert step_ids() == {"a": ids["a"], "c": ids["c"]}
    assert db.session.get(SopStep, ids["b"]) is None
    assert [s.position for s in sop_by_key("care").steps] == [0, 1]


def test_reordering_steps_by_day_keeps_rows_and_positions_follow_due_time():
    import_ok(care_doc(keyed_steps(a="一", b="二", c="三")))
    ids = step_ids()
    reordered = keyed_steps(a="一", b="二", c="三")
    for step, day in zip(reordered, (9, 5, 1)):  # c first, then b, then a
        step["day"] = day
    import_ok(care_doc(reordered))
    steps = sop_by_key("care").steps
    assert [(s.position, s.key, s.day) for s in steps] == [(0, "c", 1), (1, "b", 5), (2, "a", 9)]
    assert step_ids() == ids


def test_steps_are_stored_in_due_order_whatever_the_document_order():
    steps = [{"day": 2, "at": "09:00", "action": "message", "text": "后"},
             {"day": 2, "at": "08:00", "action": "message", "text": "先"},
             {"day": 0, "at": "23:00", "action": "message", "text": "最先"}]
    import_ok(care_doc(steps))
    assert [s.text for s in sop_by_key("care").steps] == ["最先", "先", "后"]
    import_ok(care_doc(list(reversed(steps))))  # swapping unkeyed rows trips no UNIQUE
    assert [s.text for s in sop_by_key("care").steps] == ["最先", "先", "后"]


def test_adding_a_step_between_others():
    import_ok(care_doc(keyed_steps(a="一", c="三")))
    ids = step_ids()
    steps = keyed_steps(a="一", b="二", c="三")
    import_ok(care_doc(steps))
    assert [s.key for s in sop_by_key("care").steps] == ["a", "b", "c"]
    assert {k: v for k, v in step_ids().items() if k != "b"} == ids


def test_versions_only_for_real_changes_with_a_diff_naming_the_change():
    import_ok(care_doc(keyed_steps(a="旧的问候", b="二")))
    care = sop_by_key("care")
    v1 = db.session.scalars(select(SopVersion).where(SopVersion.sop_id == care.id)).all()
    assert [(v.version, v.actor) for v in v1] == [(1, "test")]

    import_ok(care_doc(keyed_steps(a="旧的问候", b="二")))
    assert db.session.scalar(select(func.count()).select_from(SopVersion)) == 1

    import_ok(care_doc(keyed_steps(a="新的问候", b="二")))
    versions = db.session.scalars(select(SopVersion).order_by(SopVersion.version)).all()
    assert [v.version for v in versions] == [1, 2]
    assert sop_by_key("care").version == 2
    diff = versions[1].diff.splitlines()
    assert any(line.startswith("-") and "旧的问候" in line for line in diff)
    assert any(line.startswith("+") and "新的问候" in line for line in diff)
    assert not any("二" in line for line in diff if line[:1] in "+-" and line[:3] not in
                   ("---", "+++"))
    assert versions[1].snapshot["steps"][0]["text"] == "新的问候"


def test_journey_update_by_key_keeps_stage_rows():
    doc = full_doc()
    import_ok(doc)
    dental = db.session.scalar(select(Journey).where(Journey.key == "dental"))
    implant_id = dental.stages[1].id
    doc["journeys"][0]["stages"] = [doc["journeys"][0]["stages"][1]]  # drop "extracted"
    doc["journeys"][0]["stages"][0]["rules"] = [{"stage": "付费"}]
    import_ok(doc)
    db.session.expire_all()
    dental = db.session.scalar(select(Journey).where(Journey.key == "dental"))
    assert [(s.id, s.key, s.position) for s in dental.stages] == [(implant_id, "implant", 0)]
    assert [[(c.kind, c.value) for c in r.conditions] for r in dental.stages[0].rules] == [
        [("stage", "付费")]]
    assert db.session.scalar(select(func.count()).select_from(JourneyStage)) == 1


# --- the lock on target and kind -------------------------------------------------------------
LOCKED = "can only change while the SOP is draft or paused (it is running)"


def test_running_sop_refuses_a_target_or_kind_change_and_keeps_its_target():
    import_ok(care_doc(keyed_steps(a="一"), status="running"))
    assert sop_by_key("care").status == "initializing"  # started; the tick evaluates it
    tick(db.session, utcnow())
    assert sop_by_key("care").status == "running"
    assert import_problems(care_doc(keyed_steps(a="一"), status="running",
                                    target={"tags_any": ["已复购"]})) == [
        f"sops[0].target: {LOCKED}"]
    assert import_problems(care_doc(keyed_steps(a="一"), status="running",
                                    kind="new_customer")) == [f"sops[0].kind: {LOCKED}"]
    assert import_problems(care_doc(keyed_steps(a="一"), status="running", target={})) == [
        f"sops[0].target: {LOCKED}"]
    care = sop_by_key("care")
    assert (care.kind, care.target) == ("nurture", {"tags_any": ["VIP"]})


@pytest.mark.parametrize("status", ["draft", "paused"])
def test_draft_or_paused_sop_may_change_target_and_kind(status):
    import_ok(care_doc(keyed_steps(a="一"), status=status))
    import_ok(care_doc(keyed_steps(a="一"), status=status, kind="new_customer",
                       target={"tags_any": ["已复购"], "sources": ["展会"]}))
    care = sop_by_key("care")
    assert (care.kind, care.target) == ("new_customer", {"sources": ["展会"],
                                                         "tags_any": ["已复购"]})


def test_running_sop_may_change_its_steps():
    import_ok(care_doc(keyed_steps(a="一", b="二"), status="running"))
    import_ok(care_doc(keyed_steps(a="一改", c="三"), status="running"))
    assert [(s.key, s.text) for s in sop_by_key("care").steps] == [("a", "一改"), ("c", "三")]


# --- references to what the database holds ----------------------------------------------------
def test_flow_to_a_stored_sop_must_be_nurture():
    import_ok(full_doc())
    flowing = {"sops": [{"key": "x", "name": "X", "kind": "nurture",
                         "normal_end": {"flow_to": "onboarding"}},
                        {"key": "y", "name": "Y", "kind": "nurture",
                         "normal_end": {"flow_to": "repurchase-care"}}]}
    assert import_problems(flowing) == [
        "sops[0].normal_end.flow_to: must be a nurture SOP ('onboarding' is playbook)"]


def test_stored_tags_materials_and_employees_are_known():
    import_ok(full_doc())
    doc = {"sops": [{"key": "x", "name": "X", "kind": "nurture",
                     "target": {"tags_any": ["拔牙"], "members": ["lisi"],
                                "departments": ["客服部"], "segment": "loyal-buyers"},
                     "steps": [{"day": 0, "at": "10:00", "action": "message", "text": "hi",
                                "attachments": ["coupon", "ghost"]}]}]}
    assert import_problems(doc) == ["sops[0].steps[0].attachments[1]: unknown material 'ghost'"]


def test_a_journey_whose_sync_is_running_cannot_be_changed_by_import():
    """SPEC §4: while a sync runs the journey cannot be edited (an unchanged export can)."""
    doc = full_doc()
    import_ok(doc)
    dental = db.session.scalar(select(Journey).where(Journey.key == "dental"))
    dental.sync_started_at = dental.created_at
    db.session.commit()
    import_ok(export_document(db.session))
    doc["journeys"][0]["stages"][0]["rules"] = [{"stage": "付费"}]
    assert import_problems(doc) == ["journeys[0]: cannot be edited while its data sync runs"]


def test_status_follows_the_lifecycle():
    import_ok({"sops": [{"key": "n", "name": "N", "kind": "nurture", "status": "running"}]})
    back = {"sops": [{"key": "n", "name": "N", "kind": "nurture", "status": "draft"}]}
    assert import_problems(back) == ["sops[0].status: cannot go from initializing to draft"]
    tick(db.session, utcnow())
    assert import_problems(back) == ["sops[0].status: cannot go from running to draft"]
    import_ok({"sops": [{"key": "n", "name": "N", "kind": "nurture", "status": "paused"}]})
    import_ok({"sops": [{"key": "n", "name": "N", "kind": "nurture", "status": "ended"}]})
    again = {"sops": [{"key": "n", "name": "N", "kind": "nurture", "status": "running"}]}
    assert import_problems(again) == ["sops[0].status: cannot go from ended to running"]
    fresh = {"sops": [{"key": "m", "name": "M", "kind": "nurture", "status": "initializing"}]}
    assert import_problems(fresh) == [
        "sops[0].status: is set by the engine while an SOP starts"]


def test_reimporting_an_unchanged_export_writes_no_audit_rows():
    import_ok(full_doc())
    before = db.session.scalar(select(func.count()).select_from(AuditLog))
    import_ok(export_document(db.session))
    after = db.session.scalar(select(func.count()).select_from(AuditLog))
    assert after == before


def test_a_fourth_enabled_journey_counts_the_stored_ones():
    stage = [{"key": "s", "name": "S", "rules": [{"churn_status": "lost"}]}]
    import_ok({"journeys": [{"key": k, "name": k, "enabled": True, "stages": stage}
                            for k in ("j1", "j2", "j3")]})
    fourth = {"journeys": [{"key": "j4", "name": "j4", "enabled": True, "stages": stage}]}
    assert import_problems(fourth) == [
        "journeys: at most 3 journeys can be enabled at once (4 would be: j1, j2, j3, j4)"]
    assert db.session.scalar(select(func.count()).select_from(Journey)) == 3
    fourth["journeys"].append({"key": "j1", "name": "j1", "enabled": False, "stages": stage})
    import_ok(fourth)
    enabled = db.session.scalars(select(Journey.key).where(Journey.enabled)).all()
    assert sorted(enabled) == ["j2", "j3", "j4"]
