"""Config as code against the database: import, export, updates by key, and the CLI
(`flask sop import FILE`, `flask sop export [FILE]`), SPEC §8.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from models import (
    AuditLog, Employee, Journey, JourneyStage, Material, Settings, Sop, SopStep, SopVersion, db,
)
from models.audit import acting_as
from seed.config_io import dump_yaml, export_document, import_document, load_yaml

FIXTURE = Path(__file__).parent / "fixtures" / "full_config.yaml"
SECRETS = ("secret", "callback_token", "callback_aes_key")


# --- helpers ------------------------------------------------------------------------------
def full_doc() -> dict:
    return yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))


def import_ok(doc) -> None:
    with acting_as("test"):
        problems = import_document(db.session, copy.deepcopy(doc))
        assert [str(p) for p in problems] == []
        db.session.commit()


def import_problems(doc) -> list[str]:
    with acting_as("test"):
        problems = [str(p) for p in import_document(db.session, copy.deepcopy(doc))]
    db.session.rollback()
    return problems


def exported_text() -> str:
    text = dump_yaml(export_document(db.session))
    db.session.rollback()
    return text


def row_counts() -> dict[str, int]:
    return {t.name: db.session.scalar(select(func.count()).select_from(t))
            for t in db.metadata.sorted_tables}


def cli(app, *args, input=None):
    """Run `flask sop ...`; it shares the test's app context (and so its session)."""
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["sop", *args], input=input)
    db.session.expire_all()
    return result


def sop_by_key(key: str) -> Sop:
    return db.session.scalar(select(Sop).where(Sop.key == key))


def by_key(doc: dict) -> dict:
    """A document with each section as {key: item}, so row order does not matter."""
    keys = {"employees": "userid", "tags": "name"}
    out = {"settings": doc.get("settings")}
    for section in ("employees", "tags", "materials", "segments", "sops", "journeys"):
        name = keys.get(section, "key")
        out[section] = {item[name]: item for item in doc.get(section) or []}
    return out


def care_doc(steps, status="draft", kind="nurture", target=None) -> dict:
    return {
        "tags": [{"name": "VIP"}, {"name": "已复购"}],
        "sops": [{"key": "care", "name": "关怀", "kind": kind, "status": status,
                  "target": {"tags_any": ["VIP"]} if target is None else target,
                  "steps": steps}],
    }


def keyed_steps(**texts) -> list[dict]:
    days = {"a": 0, "b": 3, "c": 7}
    return [{"key": k, "day": days[k], "at": "10:00", "action": "message", "text": t}
            for k, t in texts.items()]


def step_ids() -> dict:
    return {s.key or s.position: s.id for s in sop_by_key("care").steps}


# --- round trip ---------------------------------------------------------------------------
def test_export_after_import_is_the_document_without_secrets():
    doc = full_doc()
    import_ok(doc)
    expected = copy.deepcopy(doc)
    for secret in SECRETS:
        del expected["settings"]["wecom"][secret]
    exported = export_document(db.session)
    for sop in exported["sops"]:  # an empty target or end rule is the same as none
        for name in ("target", "early_end", "normal_end"):
            if sop.get(name) == {}:
                del sop[name]
    assert by_key(exported) == by_key(expected)


def test_import_stores_every_field_kind():
    import_ok(full_doc())
    settings = db.session.get(Settings, 1)
    assert (settings.quota_limit, settings.quota_period, settings.daily_budget) == (7, "week", 5000)
    assert (settings.tier_high_threshold, settings.tier_potential_threshold) == (600000, 120000)
    assert settings.wecom_secret == "s3cret-do-not-export"
    assert settings.wecom_aes_key == "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

    wangwu = db.session.scalar(select(Employee).where(Employee.userid == "wangwu"))
    assert (wangwu.department.name, wangwu.role, wangwu.active) == ("华东销售", "manager", False)

    sop = sop_by_key("sunscreen-revisit")
    assert (sop.kind, sop.status, sop.priority, sop.entry_window_hours) == (
        "new_customer", "running", 10, 48)
    assert sop.target == {"sources": ["渠道活码", "线上广告"], "tags_any": ["购买防晒正装"]}
    assert [e.userid for e in sop.members] == ["lisi", "zhangsan"]
    assert [d.name for d in sop.departments] == ["华东销售"]
    assert [m.key for m in sop.steps[0].attachments] == ["care-guide", "price-list", "snippet"]
    assert sop.early_end_when == {"tags_any": ["已复购"], "stages": ["忠实"],
                                  "churn_status": ["lost"]}
    assert sop.early_end_flow_to.key == sop.normal_end_flow_to.key == "repurchase-care"
    assert sop.normal_end_add_tags == ["SOP完成"]

    playbook = sop_by_key("onboarding")
    assert playbook.trigger_event == "order_placed"
    assert [(s.action, s.task_assignee, s.task_deadline_hours) for s in playbook.steps] == [
        ("task", "role:service", 24), ("task", "employee:wangwu", 48),
        ("tag", None, None), ("stage", None, None)]
    assert (playbook.steps[2].add_tags, playbook.steps[2].remove_tags) == (["已复购"], ["黑名单"])
    assert playbook.steps[3].stage == "付费"

    dental = db.session.scalar(select(Journey).where(Journey.key == "dental"))
    assert (dental.enabled, dental.automation, dental.stage_reminders,
            dental.followup_reminders) == (True, False, False, True)
    extracted, implant = dental.stages
    assert [[(c.kind, c.tags, c.value) for c in r.conditions] for r in extracted.rules] == [
        [("tags_any", ["拔牙"], None)],
        [("tags_any", ["种牙", "补牙"], None), ("stage", [], "付费")]]
    assert [(c.kind, c.value) for c in implant.rules[0].conditions] == [
        ("tags_any", None), ("churn_status", "normal"), ("stage", "忠实")]
    reminder = extracted.reminders[0]
    assert (reminder.day, reminder.hour, reminder.kind) == (1, 9, "stage")
    assert [m.key for m in reminder.attachments] == ["care-guide", "photo"]
    assert extracted.reminders[1].kind == "followup"


def test_export_import_export_is_byte_identical():
    import_ok(full_doc())
    first = exported_text()
    versions = db.session.scalar(select(func.count()).select_from(SopVersion))
    import_ok(yaml.safe_load(first))
    assert exported_text() == first
    # nothing changed, so no SOP got a new version
    assert db.session.scalar(select(func.count()).select_from(SopVersion)) == versions == 3


def test_cli_export_import_export_is_byte_identical(app, tmp_path):
    source = tmp_path / "config.yaml"
    source.write_text(FIXTURE.read_text(encoding="utf-8"), encoding="utf-8")
    assert cli(app, "import", str(source)).exit_code == 0
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    result = cli(app, "export", str(first))
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"exported to {first}"
    assert cli(app, "import", str(first)).exit_code == 0
    assert cli(app, "export", str(second)).exit_code == 0
    assert first.read_bytes() == second.read_bytes()
    assert 'at: "10:00"' in first.read_text(encoding="utf-8")


def test_cli_export_to_stdout_writes_nothing(app):
    import_ok(full_doc())
    before = row_counts()
    result = cli(app, "export")
    assert result.exit_code == 0
    assert result.stdout == exported_text()
    assert yaml.safe_load(result.stdout)["sops"][2]["key"] == "sunscreen-revisit"
    assert row_counts() == before


def test_export_of_an_empty_database_writes_nothing(app):
    result = cli(app, "export")
    assert result.exit_code == 0
    assert yaml.safe_load(result.stdout)["settings"]["timezone"] == "Asia/Shanghai"
    assert set(row_counts().values()) == {0}


# --- secrets ------------------------------------------------------------------------------
def test_wecom_secret_is_imported_but_never_exported_or_audited():
    import_ok({"settings": {"wecom": {"corp_id": "ww1", "secret": "TOPSECRET-1"}}})
    assert db.session.get(Settings, 1).wecom_secret == "TOPSECRET-1"
    text = exported_text()
    assert "TOPSECRET" not in text
    assert yaml.safe_load(text)["settings"]["wecom"] == {"corp_id": "ww1"}
    audit = json.dumps([[a.before, a.after] for a in db.session.scalars(select(AuditLog))],
                       ensure_ascii=False)
    assert "TOPSECRET" not in audit
    # importing the export (which has no secret) keeps the stored secret
    import_ok(yaml.safe_load(text))
    assert db.session.get(Settings, 1).wecom_secret == "TOPSECRET-1"


# --- times --------------------------------------------------------------------------------
def test_unquoted_time_is_stored_and_exported_as_hh_mm(app, tmp_path):
    path = tmp_path / "unquoted.yaml"
    path.write_text("""\
sops:
  - key: care
    name: 关怀
    kind: nurture
    steps:
      - {day: 1, at: 10:00, action: message, text: 早上好}
      - {day: 2, at: 9:05, action: message, text: 又见面}
""", encoding="utf-8")
    result = cli(app, "import", str(path))
    assert result.exit_code == 0, result.output
    assert [s.at_time for s in sop_by_key("care").steps] == ["10:00", "09:05"]
    text = exported_text()
    assert 'at: "10:00"' in text and 'at: "09:05"' in text


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


# --- all or nothing ----------------------------------------------------------------------------
def half_good_document() -> dict:
    """New good items next to a bad SOP and a bad journey."""
    good_sop = {"key": "fresh", "name": "新的", "kind": "nurture",
                "steps": [{"day": 0, "at": "10:00", "action": "message", "text": "hi"}]}
    bad_sop = {"key": "broken", "name": "坏的", "kind": "nurture",
               "steps": [{"day": 0, "at": "10:00", "action": "message", "text": "ok"},
                         {"day": -1, "at": "10:00", "action": "message", "text": "bad"}]}
    stages = [{"key": f"s{i}", "name": f"S{i}", "rules": [{"churn_status": "lost"}]}
              for i in range(4)]
    stages[3]["rules"] = [{"churn_status": "lost"}] * 6
    return {
        "settings": {"timezone": "Europe/Paris", "wecom": {"secret": "NEW"}},
        "employees": [{"userid": "newbie", "name": "新人", "department": "新部门"}],
        "tags": [{"name": "新标签"}],
        "materials": [{"key": "new-mat", "kind": "text", "title": "T", "content": "x"}],
        "sops": [good_sop, bad_sop, dict(good_sop, key="sunscreen-revisit", name="改名")],
        "journeys": [{"key": "new-journey", "name": "J", "stages": stages}],
    }


HALF_GOOD_PROBLEMS = [
    "sops[1].steps[1].day: must be ≥ 0",
    "journeys[0].stages[3].rules: at most 5 rules",
]


def test_a_bad_document_changes_nothing_through_the_api():
    import_ok(full_doc())
    before = row_counts()
    with acting_as("test"):
        problems = import_document(db.session, half_good_document())
    # the running sunscreen-revisit may not lose its target either
    assert [str(p) for p in problems] == HALF_GOOD_PROBLEMS[:1] + [
        "sops[2].kind: " + LOCKED, "sops[2].target: " + LOCKED] + HALF_GOOD_PROBLEMS[1:]
    assert not (db.session.new or db.session.dirty or db.session.deleted)
    assert row_counts() == before
    db.session.rollback()
    assert row_counts() == before
    assert db.session.get(Settings, 1).timezone == "Asia/Shanghai"


def test_cli_import_of_a_bad_document_writes_nothing_and_lists_every_problem(app, tmp_path):
    import_ok(full_doc())
    before = row_counts()
    assert all(before[t] > 0 for t in ("sops", "sop_steps", "sop_versions", "audit_log",
                                       "journeys", "journey_reminders", "step_attachments"))
    doc = half_good_document()
    del doc["sops"][2]
    path = tmp_path / "bad.yaml"
    path.write_text(dump_yaml(doc), encoding="utf-8")

    result = cli(app, "import", str(path))

    assert result.exit_code != 0
    assert result.stdout == ""
    assert result.stderr.splitlines() == HALF_GOOD_PROBLEMS + [
        f"Error: 2 problem(s) in {path}; nothing was written"]
    assert row_counts() == before
    assert sop_by_key("fresh") is None
    assert db.session.get(Settings, 1).wecom_secret == "s3cret-do-not-export"


def test_cli_import_of_a_bad_document_into_an_empty_database(app, tmp_path):
    doc = half_good_document()
    del doc["sops"][2]
    path = tmp_path / "bad.yaml"
    path.write_text(dump_yaml(doc), encoding="utf-8")
    result = cli(app, "import", str(path))
    assert result.exit_code == 1
    assert set(row_counts().values()) == {0}  # not even the default settings row


def test_cli_import_reports_yaml_syntax_errors(app, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("sops:\n  - key: care\n    name: [unclosed\n", encoding="utf-8")
    result = cli(app, "import", str(path))
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert result.stderr.startswith(f"Error: {path} is not valid YAML: ")
    assert "line 4" in result.stderr
    assert set(row_counts().values()) == {0}


def test_cli_import_refuses_a_key_written_twice_in_one_mapping(app, tmp_path):
    """Plain YAML keeps the last of two `steps:`; the importer says so instead."""
    path = tmp_path / "twice.yaml"
    path.write_text("""\
sops:
  - key: care
    name: 关怀
    kind: nurture
    steps: [{day: 0, at: "10:00", action: message, text: 一}]
    steps: [{day: 1, at: "10:00", action: message, text: 二}]
""", encoding="utf-8")
    result = cli(app, "import", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {path} is not valid YAML: ")
    assert "found the key 'steps' twice" in result.stderr
    assert "line 6" in result.stderr
    assert set(row_counts().values()) == {0}


def test_yaml_merge_keys_may_still_be_overridden():
    doc = load_yaml("base: &b {day: 0, at: '10:00'}\nstep: {<<: *b, day: 3}\n")
    assert doc["step"] == {"day": 3, "at": "10:00"}


def test_cli_import_reports_a_missing_file(app, tmp_path):
    path = tmp_path / "missing.yaml"
    result = cli(app, "import", str(path))
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.stderr == f"Error: cannot read {path}: No such file or directory\n"


def test_cli_import_of_something_that_is_not_a_mapping(app, tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- sops\n- tags\n", encoding="utf-8")
    result = cli(app, "import", str(path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "must be a mapping", f"Error: 1 problem(s) in {path}; nothing was written"]


def test_cli_import_of_an_empty_file_imports_nothing(app, tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    result = cli(app, "import", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"imported {path}: 0 employees, 0 tags, 0 materials, "
                             "0 segments, 0 sops, 0 journeys\n")


def test_cli_import_success_reports_counts_and_audits_as_cli(app, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(FIXTURE.read_text(encoding="utf-8"), encoding="utf-8")
    result = cli(app, "import", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"imported {path}: 3 employees, 8 tags, 5 materials, "
                             "1 segments, 3 sops, 2 journeys\n")
    assert set(db.session.scalars(select(SopVersion.actor))) == {"cli:import"}
    actors = set(db.session.scalars(select(AuditLog.actor).where(AuditLog.object_type == "Sop")))
    assert actors == {"cli:import"}
    assert db.session.scalar(select(func.count()).select_from(Material)) == 5


def test_cli_import_reads_standard_input(app):
    result = cli(app, "import", "-", input="tags: [{name: 来自管道}]\n")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(exported_text())["tags"] == [{"name": "来自管道"}]
