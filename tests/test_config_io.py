"""Config as code against the database: import, export, round trip, all or nothing, and
the CLI (`flask sop import FILE`, `flask sop export [FILE]`), SPEC §8.
"""
from __future__ import annotations

import copy
import json

import yaml
from sqlalchemy import func, select

from models import (
    AuditLog, Employee, Journey, Material, Settings, SopVersion, db,
)
from models.audit import acting_as
from config_io.importer import dump_yaml, export_document, import_document, load_yaml
from tests.config_io_support import (
    FIXTURE, SECRETS, by_key, cli, exported_text, full_doc, import_ok,
    row_counts, sop_by_key,
)
from tests.test_config_updates import LOCKED


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
    # "running" in a file starts the SOP: its first evaluation waits for the next tick
    assert (sop.kind, sop.status, sop.priority, sop.entry_window_hours) == (
        "new_customer", "initializing", 10, 48)
    assert sop.started_at is not None
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
    # the starting sunscreen-revisit may not lose its target either
    locked = LOCKED.replace("running", "initializing")
    assert [str(p) for p in problems] == HALF_GOOD_PROBLEMS[:1] + [
        "sops[2].kind: " + locked, "sops[2].target: " + locked] + HALF_GOOD_PROBLEMS[1:]
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
