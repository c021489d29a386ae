"""The config-as-code rules for SOPs (SPEC §3, §8), without a database.

Every limit is checked through `validate_document` (as the importer sees it) with the
exact path and message a user reads.
"""
from __future__ import annotations

import pytest
import yaml

from jobs.core.config_rules import Known, Problem, parse_at, validate_journey, validate_sop
from tests.config_rule_docs import (  # noqa: F401
    AT_ERROR, a_journey, a_sop, a_stage, known, problems_of, sop_problems, with_step,
)


# --- steps ------------------------------------------------------------------------
def test_step_day_must_not_be_negative():
    assert sop_problems(steps=with_step(1, day=-1)) == ["sops[0].steps[1].day: must be ≥ 0"]


def test_step_day_is_required_and_whole():
    steps = with_step(0, day="3")
    del steps[1]["day"]
    assert sop_problems(steps=steps) == ["sops[0].steps[0].day: must be a whole number",
                                         "sops[0].steps[1].day: is required"]


@pytest.mark.parametrize("at", ["25:00", "9h", True, "10:60", 24 * 60, -5, "", "10"])
def test_step_at_must_be_a_time_of_day(at):
    assert sop_problems(steps=with_step(1, at=at)) == [f"sops[0].steps[1].at: {AT_ERROR}"]


def test_step_at_is_required():
    steps = with_step(0)
    del steps[0]["at"]
    assert sop_problems(steps=steps) == ["sops[0].steps[0].at: is required"]


def test_unquoted_yaml_time_is_read_as_minutes_and_accepted():
    doc = yaml.safe_load("""
sops:
  - key: revisit
    name: 回访
    kind: nurture
    steps:
      - {day: 0, at: 10:00, action: message, text: 欢迎}
      - {day: 1, at: 9:05, action: message, text: 早}
""")
    steps = doc["sops"][0]["steps"]
    assert [s["at"] for s in steps] == [600, 545]  # YAML 1.1 sexagesimal numbers
    assert problems_of(doc) == []
    assert [parse_at(s["at"]) for s in steps] == ["10:00", "09:05"]


@pytest.mark.parametrize("value, expected", [
    ("09:30", "09:30"), ("9:30", "09:30"), (" 23:59 ", "23:59"), ("00:00", "00:00"),
    (0, "00:00"), (600, "10:00"), (1439, "23:59"),
    (1440, None), ("24:00", None), ("9h", None), (True, None), (False, None), (None, None),
    (9.5, None),
])
def test_parse_at(value, expected):
    assert parse_at(value) == expected


def test_at_most_nine_attachments_on_a_step():
    nine = [f"m{i}" for i in range(9)]
    assert sop_problems(steps=with_step(0, attachments=nine)) == []
    assert sop_problems(steps=with_step(0, attachments=nine + ["m9"])) == [
        "sops[0].steps[0].attachments: at most 9 attachments"]


def test_unknown_material_in_attachments():
    assert sop_problems(steps=with_step(1, attachments=["m1", "nope"])) == [
        "sops[0].steps[1].attachments[1]: unknown material 'nope'"]


def test_materials_defined_in_the_same_document_are_known():
    doc = {"materials": [{"key": "flyer", "kind": "link", "title": "Flyer",
                          "url": "https://example.com"}],
           "sops": [a_sop(steps=with_step(0, attachments=["flyer"]))]}
    assert problems_of(doc, known(materials=set())) == []


def test_message_text_at_most_4000_bytes():
    exactly = "防" * 1333 + "x"  # 3 bytes per character: 4000 bytes
    assert len(exactly.encode()) == 4000
    assert sop_problems(steps=with_step(0, text=exactly)) == []
    assert sop_problems(steps=with_step(0, text=exactly + "x")) == [
        "sops[0].steps[0].text: at most 4000 bytes"]


def test_message_step_needs_text():
    assert sop_problems(steps=with_step(0, text="  ")) == ["sops[0].steps[0].text: is required"]


def test_unknown_action():
    assert sop_problems(steps=with_step(0, action="email")) == [
        "sops[0].steps[0].action: must be one of: message, task, tag, stage"]


def test_task_step_rules():
    ok = {"day": 0, "at": "09:00", "action": "task", "title": "回访", "assignee": "role:service",
          "deadline_hours": 24}
    assert sop_problems(steps=[ok]) == []
    assert sop_problems(steps=[dict(ok, assignee="employee:zhangsan")]) == []
    assert sop_problems(steps=[dict(ok, assignee="employee:ghost")]) == [
        "sops[0].steps[0].assignee: unknown employee 'ghost'"]
    assert sop_problems(steps=[dict(ok, assignee="role:boss")]) == [
        "sops[0].steps[0].assignee: unknown role 'boss' "
        "(one of: admin, ops, manager, sales, service, finance)"]
    assert sop_problems(steps=[dict(ok, assignee="zhangsan")]) == [
        "sops[0].steps[0].assignee: must be 'owner', 'role:<role>' or 'employee:<userid>'"]
    assert sop_problems(steps=[dict(ok, deadline_hours=0, title=None)]) == [
        "sops[0].steps[0].title: is required", "sops[0].steps[0].deadline_hours: must be ≥ 1"]


def test_tag_and_stage_step_rules():
    tag_step = {"day": 1, "at": "09:00", "action": "tag"}
    assert sop_problems(steps=[dict(tag_step, add_tags=["VIP"], remove_tags=["已复购"])]) == []
    assert sop_problems(steps=[tag_step]) == [
        "sops[0].steps[0].add_tags: a tag step adds or removes at least one tag"]
    assert sop_problems(steps=[dict(tag_step, remove_tags=["ghost"])]) == [
        "sops[0].steps[0].remove_tags[0]: unknown tag 'ghost'"]
    stage_step = {"day": 1, "at": "09:00", "action": "stage"}
    assert sop_problems(steps=[dict(stage_step, stage="付费")]) == []
    assert sop_problems(steps=[dict(stage_step, stage="VIP")]) == [
        "sops[0].steps[0].stage: must be one of: 潜在, 新客户, 付费, 忠实"]


def test_lifecycle_stages_from_the_document_settings_are_the_known_stages():
    doc = {"settings": {"lifecycle_stages": ["试用", "正式"]},
           "sops": [a_sop(steps=[{"day": 0, "at": "09:00", "action": "stage", "stage": "试用"}],
                          target={"stages": "付费"})]}
    assert problems_of(doc) == ["sops[0].target.stages[0]: unknown stage '付费'"]


def test_duplicate_step_keys():
    steps = with_step(0, key="a")
    steps[1]["key"] = "a"
    assert sop_problems(steps=steps) == ["sops[0].steps[1].key: duplicate key 'a'"]


def test_unknown_step_field():
    problems = sop_problems(steps=with_step(1, colour="red"))
    assert len(problems) == 1
    assert problems[0].startswith("sops[0].steps[1].colour: unknown field (allowed: key, day, at")


# --- references in a target ------------------------------------------------------------
@pytest.mark.parametrize("target, expected", [
    ({"tags_any": ["VIP", "ghost"]}, "sops[0].target.tags_any[1]: unknown tag 'ghost'"),
    ({"tags_all": ["ghost"]}, "sops[0].target.tags_all[0]: unknown tag 'ghost'"),
    ({"tags_none": ["ghost"]}, "sops[0].target.tags_none[0]: unknown tag 'ghost'"),
    ({"members": ["zhangsan", "ghost"]}, "sops[0].target.members[1]: unknown employee 'ghost'"),
    ({"departments": ["火星部"]}, "sops[0].target.departments[0]: unknown department '火星部'"),
    ({"segment": "ghost"}, "sops[0].target.segment: unknown segment 'ghost'"),
    ({"stages": "VIP"}, "sops[0].target.stages[0]: unknown stage 'VIP'"),
    ({"churn_status": ["normal", "gone"]},
     "sops[0].target.churn_status[1]: unknown churn status 'gone'"),
    ({"sources": [""]}, "sops[0].target.sources[0]: must be a non-empty name"),
])
def test_unknown_references_in_a_target(target, expected):
    assert sop_problems(target=target) == [expected]


def test_a_target_using_every_key_is_valid():
    target = {"sources": ["渠道活码"], "tags_any": ["VIP"], "tags_all": ["种牙"],
              "tags_none": ["拔牙"], "segment": "loyal", "stages": ["付费", "忠实"],
              "churn_status": "normal", "members": ["zhangsan"], "departments": ["华东销售"]}
    assert sop_problems(target=target) == []


def test_unknown_target_field():
    problems = sop_problems(target={"tags_any": ["VIP"], "colour": "red"})
    assert len(problems) == 1
    assert problems[0].startswith("sops[0].target.colour: unknown field (allowed: sources,")


# --- SOP fields -----------------------------------------------------------------------
def test_trigger_only_on_a_playbook():
    assert sop_problems(trigger="order_placed") == [
        "sops[0].trigger: only a playbook SOP is started by an event"]
    assert sop_problems(kind="playbook", trigger="order_placed") == []
    assert sop_problems(kind="playbook", trigger="birthday") == [
        "sops[0].trigger: must be one of: customer_added, customer_updated, owner_changed, "
        "customer_lost, tag_added, tag_removed, stage_changed, order_placed, followup_logged"]


@pytest.mark.parametrize("size, expected", [
    (0, ["sops[0].batch.size: must be ≥ 1"]),
    (10001, ["sops[0].batch.size: must be ≤ 10000"]),
    (1, []),
    (10000, []),
])
def test_batch_size_limits(size, expected):
    assert sop_problems(batch={"size": size, "interval_minutes": 10}) == expected


def test_batch_interval_and_other_numbers():
    assert sop_problems(batch={"interval_minutes": -1}, priority=1.5, holdout_percent=51,
                        conversion_days=0) == [
        "sops[0].priority: must be a whole number",
        "sops[0].conversion_days: must be ≥ 1",
        "sops[0].holdout_percent: must be ≤ 50",
        "sops[0].batch.interval_minutes: must be ≥ 0",
    ]


def test_sop_required_fields_and_choices():
    assert problems_of({"sops": [{"key": "bad key!", "kind": "weekly", "status": "live"}]}) == [
        "sops[0].key: letters, digits, '-', '_' or '.', at most 64",
        "sops[0].name: is required",
        "sops[0].kind: must be one of: new_customer, nurture, playbook",
        "sops[0].status: must be one of: draft, initializing, running, paused, ended",
    ]


def test_unknown_sop_field_and_unknown_section():
    problems = problems_of({"sops": [a_sop(colour="red")], "colour": 1})
    assert len(problems) == 2
    assert problems[0].startswith("colour: unknown field (allowed: settings, employees, tags,")
    assert problems[1].startswith("sops[0].colour: unknown field (allowed: key, name, kind,")


def test_document_must_be_a_mapping():
    assert problems_of(["sops"]) == ["must be a mapping"]
    assert problems_of(None) == []


def test_duplicate_item_keys_in_every_section():
    doc = {
        "employees": [{"userid": "ann", "name": "Ann"}, {"userid": "ann", "name": "Ann 2"}],
        "tags": [{"name": "VIP"}, {"name": "VIP"}],
        "materials": [{"key": "t", "kind": "text", "title": "T", "content": "x"}] * 2,
        "segments": [{"key": "s", "name": "S"}] * 2,
        "sops": [a_sop(), a_sop()],
        "journeys": [a_journey(), a_journey()],
    }
    assert problems_of(doc) == [
        "employees[1].userid: duplicate userid 'ann'",
        "tags[1].name: duplicate name 'VIP'",
        "materials[1].key: duplicate key 't'",
        "segments[1].key: duplicate key 's'",
        "sops[1].key: duplicate key 'revisit'",
        "journeys[1].key: duplicate key 'dental'",
    ]


# --- early and normal end --------------------------------------------------------------
def test_early_end_tags_need_a_condition():
    assert sop_problems(early_end={"add_tags": ["提前结束"]}) == [
        "sops[0].early_end.when: an early end needs a condition"]
    assert sop_problems(early_end={"when": {"tags_any": ["已复购"]},
                                   "add_tags": ["提前结束"]}) == []


def test_early_end_condition_is_checked_like_a_target():
    assert sop_problems(early_end={"when": {"tags_any": ["ghost"], "members": ["zhangsan"]}}) \
        == ["sops[0].early_end.when.members: unknown field (allowed: sources, tags_any, "
            "tags_all, tags_none, stages, churn_status)",
            "sops[0].early_end.when.tags_any[0]: unknown tag 'ghost'"]
    assert sop_problems(early_end={"when": {"tags_any": ["VIP"]}, "add_tags": ["ghost"]}) == [
        "sops[0].early_end.add_tags[0]: unknown tag 'ghost'"]


@pytest.mark.parametrize("end", ["early_end", "normal_end"])
def test_flow_must_go_to_a_nurture_sop(end):
    def flow(to):
        rule = {"flow_to": to}
        if end == "early_end":
            rule["when"] = {"tags_any": ["已复购"]}
        return sop_problems(**{end: rule})

    assert flow("care") == []
    assert flow("welcome") == [f"sops[0].{end}.flow_to: must be a nurture SOP "
                               "('welcome' is new_customer)"]
    assert flow("signing") == [f"sops[0].{end}.flow_to: must be a nurture SOP "
                               "('signing' is playbook)"]
    assert flow("ghost") == [f"sops[0].{end}.flow_to: unknown SOP 'ghost'"]
    assert flow("revisit") == [f"sops[0].{end}.flow_to: an SOP cannot flow into itself"]


def test_flow_to_an_sop_of_the_same_document_uses_its_kind_there():
    target = a_sop(key="fresh", kind="nurture")
    flowing = a_sop(normal_end={"flow_to": "fresh"})
    assert problems_of({"sops": [flowing, target]}) == []
    # the document redefines a stored nurture SOP as new_customer: the flow is refused
    retyped = a_sop(key="care", kind="new_customer")
    assert problems_of({"sops": [flowing | {"normal_end": {"flow_to": "care"}}, retyped]}) == [
        "sops[0].normal_end.flow_to: must be a nurture SOP ('care' is new_customer)"]


# --- the lock on target and kind ---------------------------------------------------------
def stored(status: str, kind="nurture", target=None) -> Known:
    return known(sop_locks={"revisit": {"status": status, "kind": kind,
                                        "target": target or {"tags_any": ["VIP"]}}})


LOCKED = "can only change while the SOP is draft or paused (it is running)"


def test_running_sop_refuses_a_new_target_or_kind():
    k = stored("running")
    assert problems_of({"sops": [a_sop(target={"tags_any": ["已复购"]})]}, k) == [
        f"sops[0].target: {LOCKED}"]
    assert problems_of({"sops": [a_sop(kind="new_customer")]}, k) == [f"sops[0].kind: {LOCKED}"]


@pytest.mark.parametrize("status", ["draft", "paused"])
def test_draft_or_paused_sop_may_change_target_and_kind(status):
    changed = a_sop(kind="new_customer", target={"tags_any": ["已复购"], "sources": ["展会"]})
    assert problems_of({"sops": [changed]}, stored(status)) == []


def test_running_sop_may_change_its_steps_and_name():
    steps = [{"day": 9, "at": "08:00", "action": "message", "text": "新内容"}]
    assert problems_of({"sops": [a_sop(steps=steps, name="改名")]}, stored("running")) == []


def test_same_target_written_differently_is_not_a_change():
    k = stored("running", target={"tags_any": ["VIP", "已复购"], "stages": ["付费"]})
    same = a_sop(target={"tags_any": ["已复购", "VIP"], "stages": "付费", "tags_none": []})
    assert problems_of({"sops": [same]}, k) == []


def test_running_sop_without_target_in_document_is_a_target_change():
    """An item in the document is its whole definition: no target means an empty one."""
    sop = a_sop()
    del sop["target"]
    assert problems_of({"sops": [sop]}, stored("running")) == [f"sops[0].target: {LOCKED}"]


def test_the_baselines_used_below_are_valid():
    assert problems_of({"sops": [a_sop()], "journeys": [a_journey()]}) == []
    assert validate_sop(a_sop(), known()) == []
    assert validate_journey(a_journey(), known()) == []


def test_problem_prints_as_path_colon_message():
    assert str(Problem("sops[0].steps[1].day", "must be ≥ 0")) == "sops[0].steps[1].day: must be ≥ 0"
    assert str(Problem("", "must be a mapping")) == "must be a mapping"


def test_crm_settings_are_checked_with_their_paths():
    doc = {"settings": {"lifecycle_stages": ["潜在", "付费"], "crm": {
        "followup_days_high": 0, "request_sla_hours": "24", "prospect_stage": "VIP",
        "review_working_days": 2, "colour": 1}}}
    assert sorted(problems_of(doc)) == sorted([
        "settings.crm.colour: unknown field (allowed: followup_days_high, "
        "followup_days_potential, followup_days_normal, followup_days_nurture, "
        "request_sla_hours, review_working_days, churn_warning_days, dormant_after_days, "
        "prospect_min_followups, prospect_window_days, prospect_stage)",
        "settings.crm.followup_days_high: must be ≥ 1",
        "settings.crm.request_sla_hours: must be a whole number",
        "settings.crm.prospect_stage: 'VIP' is not one of the lifecycle stages",
    ])
    doc["settings"]["crm"] = {"followup_days_high": 3, "prospect_stage": "付费"}
    assert problems_of(doc) == []
