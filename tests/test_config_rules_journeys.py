"""The config-as-code rules for journeys, settings and catalogues (SPEC §4, §8), and
the entry points the admin forms use (`validate_sop` / `validate_journey`), which give
the same problems with paths relative to the item. No database.
"""
from __future__ import annotations

import pytest

from jobs.core.config_rules import validate_journey, validate_sop
from tests.config_rule_docs import (  # noqa: F401
    AT_ERROR, a_journey, a_sop, a_stage, known, problems_of, sop_problems, with_step,
)
from tests.test_config_rules import LOCKED, stored


# --- journeys ----------------------------------------------------------------------------
def test_at_most_ten_stages():
    ten = [a_stage(f"s{i}") for i in range(10)]
    assert problems_of({"journeys": [a_journey(stages=ten)]}) == []
    eleven = ten + [a_stage("s10")]
    assert problems_of({"journeys": [a_journey(stages=eleven)]}) == [
        "journeys[0].stages: at most 10 stages"]


def test_at_most_five_rules_per_stage():
    stages = [a_stage(f"s{i}") for i in range(3)]
    stages.append(a_stage("s3", rules=[{"tags_any": ["VIP"]}] * 6))
    assert problems_of({"journeys": [a_journey(stages=stages)]}) == [
        "journeys[0].stages[3].rules: at most 5 rules"]
    stages[3]["rules"] = stages[3]["rules"][:5]
    assert problems_of({"journeys": [a_journey(stages=stages)]}) == []


def test_at_most_five_conditions_in_an_all():
    five = [{"tags_any": ["VIP"]}, {"tags_any": ["种牙"]}, {"tags_any": ["补牙"]},
            {"stage": "付费"}, {"churn_status": "normal"}]
    ok = a_journey(stages=[a_stage("s0", rules=[{"all": five}])])
    assert problems_of({"journeys": [ok]}) == []
    six = a_journey(stages=[a_stage("s0", rules=[{"all": five + [{"tags_any": ["拔牙"]}]}])])
    assert problems_of({"journeys": [six]}) == [
        "journeys[0].stages[0].rules[0].all: at most 5 conditions"]


@pytest.mark.parametrize("twice, value", [("stage", "付费"), ("churn_status", "lost")])
def test_stage_and_churn_status_at_most_once_per_rule(twice, value):
    rule = {"all": [{twice: value}, {"tags_any": ["VIP"]}, {twice: value}]}
    journey = a_journey(stages=[a_stage("s0", rules=[{"tags_any": ["VIP"]}, rule])])
    assert problems_of({"journeys": [journey]}) == [
        f"journeys[0].stages[0].rules[1].all: {twice} may appear at most once per rule"]


def test_a_condition_has_exactly_one_key():
    two_keys = {"tags_any": ["VIP"], "stage": "付费"}
    message = "a condition is exactly one of tags_any, stage, churn_status"
    journey = a_journey(stages=[a_stage("s0", rules=[two_keys,
                                                     {"all": [{"stage": "付费"}, two_keys]}])])
    assert problems_of({"journeys": [journey]}) == [
        f"journeys[0].stages[0].rules[0]: {message}",
        f"journeys[0].stages[0].rules[1].all[1]: {message}"]


def test_condition_values_are_checked():
    rules = [{"tags_any": []}, {"tags_any": ["ghost"]}, {"stage": "VIP"},
             {"churn_status": "gone"}, {"tier": "high"}]
    journey = a_journey(stages=[a_stage("s0", rules=rules)])
    assert problems_of({"journeys": [journey]}) == [
        "journeys[0].stages[0].rules[0].tags_any: a tag box needs at least one tag",
        "journeys[0].stages[0].rules[1].tags_any[0]: unknown tag 'ghost'",
        "journeys[0].stages[0].rules[2].stage: must be one of: 潜在, 新客户, 付费, 忠实",
        "journeys[0].stages[0].rules[3].churn_status: must be one of: normal, lost, dormant",
        "journeys[0].stages[0].rules[4].tier: unknown condition (tags_any, stage or churn_status)",
    ]


def test_reminder_rules():
    ok = {"day": 1, "hour": 9, "text": "注意事项", "kind": "followup",
          "attachments": [f"m{i}" for i in range(9)]}
    journey = a_journey(stages=[a_stage("s0", reminders=[ok])])
    assert problems_of({"journeys": [journey]}) == []
    bad = {"day": -1, "hour": 24, "text": "注" * 1334, "kind": "daily",
           "attachments": [f"m{i}" for i in range(10)]}
    journey = a_journey(stages=[a_stage("s0", reminders=[ok, bad])])
    assert problems_of({"journeys": [journey]}) == [
        "journeys[0].stages[0].reminders[1].day: must be ≥ 0",
        "journeys[0].stages[0].reminders[1].hour: must be ≤ 23",
        "journeys[0].stages[0].reminders[1].kind: must be one of: stage, followup",
        "journeys[0].stages[0].reminders[1].attachments: at most 9 attachments",
        "journeys[0].stages[0].reminders[1].text: at most 4000 bytes",
    ]


def test_journey_switches_are_booleans_and_stage_keys_unique():
    journey = a_journey(stages=[a_stage("s0"), a_stage("s0")])
    journey["automation"] = "yes"
    assert problems_of({"journeys": [journey]}) == [
        "journeys[0].automation: must be true or false",
        "journeys[0].stages[1].key: duplicate key 's0'"]


def test_at_most_three_enabled_journeys_counting_stored_ones():
    k = known(enabled_journeys={"a", "b", "c"})
    assert problems_of({"journeys": [a_journey("d", enabled=True)]}, k) == [
        "journeys: at most 3 journeys can be enabled at once (4 would be: a, b, c, d)"]
    # the same document may disable a stored one to make room
    doc = {"journeys": [a_journey("d", enabled=True), a_journey("a", enabled=False)]}
    assert problems_of(doc, k) == []
    # re-importing the enabled ones is not a fourth
    doc = {"journeys": [a_journey(key, enabled=True) for key in ("a", "b", "c")]}
    assert problems_of(doc, k) == []


def test_four_enabled_journeys_in_one_document():
    doc = {"journeys": [a_journey(key, enabled=True) for key in ("w", "x", "y", "z")]}
    assert problems_of(doc) == [
        "journeys: at most 3 journeys can be enabled at once (4 would be: w, x, y, z)"]


# --- settings ----------------------------------------------------------------------------
@pytest.mark.parametrize("settings, expected", [
    ({"quota": {"period": "year"}}, "settings.quota.period: must be one of: day, week, month"),
    ({"quota": {"limit": 0}}, "settings.quota.limit: must be ≥ 1"),
    ({"timezone": "Mars/Olympus"}, "settings.timezone: unknown time zone 'Mars/Olympus'"),
    ({"channel": "webhook"}, "settings.webhook_url: is required"),
    ({"channel": "sms"}, "settings.channel: must be one of: task, wecom, webhook"),
    ({"wecom": {"callback_aes_key": "a" * 42}},
     "settings.wecom.callback_aes_key: EncodingAESKey is 43 characters"),
    ({"wecom": {"callback_aes_key": "a" * 44}},
     "settings.wecom.callback_aes_key: EncodingAESKey is 43 characters"),
    ({"wecom": {"api_base_url": "qyapi.weixin.qq.com"}},
     "settings.wecom.api_base_url: must start with http:// or https://"),
    ({"tiers": {"high": 100_000, "potential": 100_001}},
     "settings.tiers.potential: must not exceed the high threshold"),
    ({"lifecycle_stages": ["a", "a"]}, "settings.lifecycle_stages: stages must be unique"),
])
def test_settings_problems(settings, expected):
    assert problems_of({"settings": settings}) == [expected]


def test_valid_settings():
    settings = {"timezone": "Europe/Berlin", "quota": {"limit": 7, "period": "week"},
                "channel": "webhook", "webhook_url": "https://example.com/hook",
                "wecom": {"callback_aes_key": "a" * 43, "secret": "x",
                          "api_base_url": "http://127.0.0.1:8000"},
                "tiers": {"high": 100_000, "potential": 100_000}}
    assert problems_of({"settings": settings}) == []


# --- the form-side entry points ------------------------------------------------------------
def test_validate_sop_paths_are_relative_to_the_sop():
    sop = a_sop(steps=with_step(1, day=-1), batch={"size": 0})
    assert [str(p) for p in validate_sop(sop, known())] == [
        "batch.size: must be ≥ 1", "steps[1].day: must be ≥ 0"]


def test_validate_sop_applies_the_lock():
    assert [str(p) for p in validate_sop(a_sop(kind="new_customer"), stored("running"))] == [
        f"kind: {LOCKED}"]


def test_validate_journey_paths_are_relative_to_the_journey():
    stages = [a_stage(f"s{i}") for i in range(3)] + [a_stage("s3", rules=[{"tags_any": ["VIP"]}] * 6)]
    assert [str(p) for p in validate_journey(a_journey(stages=stages), known())] == [
        "stages[3].rules: at most 5 rules"]


def test_validate_journey_counts_stored_enabled_journeys():
    k = known(enabled_journeys={"a", "b", "c"})
    assert [str(p) for p in validate_journey(a_journey("d", enabled=True), k)] == [
        "enabled: at most 3 journeys can be enabled at once (4 would be: a, b, c, d)"]
    assert validate_journey(a_journey("d", enabled=False), k) == []
    assert validate_journey(a_journey("a", enabled=True), k) == []


# --- materials: uploaded files stay inside the upload folder ------------------------------
@pytest.mark.parametrize("name", ["../victim.txt", "/etc/passwd", "a\\b", ".env", 7])
def test_material_file_must_be_a_bare_file_name(name):
    doc = {"materials": [{"key": "f", "kind": "file", "title": "价目表", "file": name}]}
    assert problems_of(doc) == [
        "materials[0].file: must be a file name inside the upload folder (no path)"]


def test_material_urls_are_web_addresses_except_mini_program_pages():
    assert problems_of({"materials": [
        {"key": "a", "kind": "link", "title": "A", "url": "javascript:alert(1)"},
        {"key": "b", "kind": "miniprogram", "title": "B", "url": "pages/coupon?id=7"},
        {"key": "c", "kind": "text", "title": "C", "content": ["not", "text"]},
    ]}) == ["materials[0].url: must start with http:// or https://",
            "materials[2].content: must be text"]
