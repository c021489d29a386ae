"""The journey form: nested stages / rules / conditions, limits from the shared rules."""
import json

import pytest
from datetime import datetime, timezone

from sqlalchemy import func, select

from models import (
    Journey, JourneyCondition, JourneyReminder, JourneyRule, JourneyStage, Tag, db,
)
from models.audit import acting_as
from tests.conftest import csrf_token_from, post_form
from tests.test_admin_support import field_errors, flashed_errors, signed_in


@pytest.fixture
def admin_client(app, admin_user):
    """conftest's admin client, but each request with a fresh `g`, in English."""
    return signed_in(app, "admin")


NEW = "/admin/journeys/new/"


def seed_tags(*names):
    with acting_as("test"):
        db.session.add_all(Tag(name=n) for n in names)
        db.session.commit()


def make_journey(key, enabled=False, **fields) -> Journey:
    with acting_as("test"):
        journey = Journey(key=key, name=key.title(), enabled=enabled, **fields)
        db.session.add(journey)
        db.session.commit()
    return journey


def tags_rule(*tags):
    return [{"kind": "tags_any", "tags": list(tags)}]


def journey_data(key="dental", stages=(), enabled=False, **extra) -> dict:
    """Form fields for a journey; `stages` is a list of (rules, reminders) where a rule
    is a list of condition dicts and a reminder a dict of its fields."""
    data = {"key": key, "name": "Dental", "automation": "y", "stage_reminders": "y",
            "followup_reminders": "y"}
    if enabled:
        data["enabled"] = "y"
    for s, (rules, reminders) in enumerate(stages):
        prefix = f"stages-{s}"
        data[f"{prefix}-key"], data[f"{prefix}-name"] = f"s{s}", f"Stage {s}"
        for r, conditions in enumerate(rules):
            for c, cond in enumerate(conditions):
                for name, value in cond.items():
                    data[f"{prefix}-rules-{r}-conditions-{c}-{name}"] = value
        for m, reminder in enumerate(reminders):
            for name, value in reminder.items():
                data[f"{prefix}-reminders-{m}-{name}"] = value
    data.update(extra)
    return data


def editor_state(html: str) -> dict:
    """The stage cards' data (values and messages) the page hands its script."""
    start = html.index('id="journey-editor-data">') + len('id="journey-editor-data">')
    return json.loads(html[start:html.index("</script>", start)])


def stage_errors(html: str, field_id: str) -> list[str]:
    """The messages on a field of the stages (shown by the cards at that field)."""
    return editor_state(html)["errors"].get(field_id, [])


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_valid_journey_with_nested_rules_and_reminders_is_saved_in_order(admin_client):
    seed_tags("拔牙", "种牙", "补牙")
    resp = post_form(admin_client, NEW, journey_data(stages=[
        ([tags_rule("拔牙"),
          tags_rule("种牙", "补牙") + [{"kind": "stage", "value": "付费"}]],
         [{"day": "1", "hour": "9", "kind": "stage", "text": "注意事项"}]),
        ([[{"kind": "churn_status", "value": "lost"}]], []),
    ], enabled=True))
    assert resp.status_code == 302, flashed_errors(resp.get_data(as_text=True))
    journey = db.session.scalar(select(Journey))
    assert journey.enabled and [s.key for s in journey.stages] == ["s0", "s1"]
    assert [s.position for s in journey.stages] == [0, 1]
    first = journey.stages[0]
    assert [[(c.position, c.kind, c.tags, c.value) for c in r.conditions] for r in first.rules] \
        == [[(0, "tags_any", ["拔牙"], None)],
            [(0, "tags_any", ["种牙", "补牙"], None), (1, "stage", [], "付费")]]
    assert [(r.day, r.hour, r.text) for r in first.reminders] == [(1, 9, "注意事项")]
    assert journey.stages[1].rules[0].conditions[0].value == "lost"


def test_editing_adds_and_deletes_nested_rows(admin_client):
    seed_tags("a", "b")
    post_form(admin_client, NEW, journey_data(stages=[([tags_rule("a"), tags_rule("b")], [])]))
    journey = db.session.scalar(select(Journey))
    stage = journey.stages[0]
    rule_a, rule_b = stage.rules
    data = journey_data(stages=[([tags_rule("a"), tags_rule("b"), tags_rule("a", "b")], [])])
    data.update({"stages-0-id": str(stage.id), "stages-0-rules-0-id": str(rule_a.id),
                 "stages-0-rules-0-conditions-0-id": str(rule_a.conditions[0].id),
                 "stages-0-rules-1-id": str(rule_b.id),
                 "stages-0-rules-1-conditions-0-id": str(rule_b.conditions[0].id),
                 "del-stages-0-rules-0": "on"})
    resp = post_form(admin_client, f"/admin/journeys/edit/?id={journey.id}", data)
    assert resp.status_code == 302, flashed_errors(resp.get_data(as_text=True))
    db.session.expire_all()
    rules = db.session.scalars(select(JourneyRule).order_by(JourneyRule.position)).all()
    assert [(r.position, [c.tags for c in r.conditions]) for r in rules] == [
        (0, [["b"]]), (1, [["a", "b"]])]
    assert rules[0].id == rule_b.id


def test_eleven_stages_are_refused_on_the_stages_list(admin_client):
    resp = post_form(admin_client, NEW, journey_data(stages=[([], [])] * 11))
    html = resp.get_data(as_text=True)
    assert "at most 10 stages" in stage_errors(html, "stages")
    assert count(Journey) == 0 and count(JourneyStage) == 0


def test_six_rules_in_a_stage_are_refused_on_that_stages_rules(admin_client):
    seed_tags("a")
    resp = post_form(admin_client, NEW, journey_data(
        stages=[([tags_rule("a")], []), ([tags_rule("a")] * 6, [])]))
    html = resp.get_data(as_text=True)
    assert stage_errors(html, "stages-1-rules") == ["at most 5 rules"]
    assert stage_errors(html, "stages-0-rules") == []
    assert count(Journey) == 0 and count(JourneyRule) == 0


def test_six_conditions_in_a_rule_are_refused_on_that_rules_conditions(admin_client):
    seed_tags("a")
    resp = post_form(admin_client, NEW, journey_data(
        stages=[([tags_rule("a"), tags_rule("a") * 6], [])]))
    html = resp.get_data(as_text=True)
    assert stage_errors(html, "stages-0-rules-1-conditions") == ["at most 5 conditions"]
    assert count(Journey) == 0 and count(JourneyCondition) == 0


def test_two_stage_conditions_in_one_rule_are_refused(admin_client):
    resp = post_form(admin_client, NEW, journey_data(stages=[(
        [[{"kind": "stage", "value": "付费"}, {"kind": "stage", "value": "忠实"}]], [])]))
    html = resp.get_data(as_text=True)
    assert stage_errors(html, "stages-0-rules-0-conditions") == [
        "stage may appear at most once per rule"]
    assert count(Journey) == 0


def test_condition_value_must_fit_its_kind(admin_client):
    resp = post_form(admin_client, NEW, journey_data(stages=[(
        [[{"kind": "churn_status", "value": "付费"}]], [])]))
    assert stage_errors(resp.get_data(as_text=True), "stages-0-rules-0-conditions-0-value") \
        == ["must be one of: normal, lost, dormant"]


def test_reminder_hour_is_checked_on_the_reminder(admin_client):
    resp = post_form(admin_client, NEW, journey_data(stages=[(
        [], [{"day": "1", "hour": "24", "kind": "stage", "text": "x"}])]))
    assert stage_errors(resp.get_data(as_text=True), "stages-0-reminders-0-hour") == [
        "must be ≤ 23"]
    assert count(JourneyReminder) == 0


def test_a_fourth_enabled_journey_is_refused(admin_client):
    for key in ("a", "b", "c"):
        make_journey(key, enabled=True)
    resp = post_form(admin_client, NEW, journey_data(key="d", enabled=True))
    errors = field_errors(resp.get_data(as_text=True), "enabled")
    assert len(errors) == 1 and errors[0].startswith("at most 3 journeys can be enabled")
    assert count(Journey) == 3
    assert post_form(admin_client, NEW, journey_data(key="d")).status_code == 302


def test_the_enabled_switch_on_the_list_obeys_the_limit(admin_client):
    for key in ("a", "b", "c"):
        make_journey(key, enabled=True)
    fourth = make_journey("d")
    token = csrf_token_from(admin_client.get("/admin/journeys/").get_data(as_text=True))
    resp = admin_client.post("/admin/journeys/ajax/update/", data={
        "list_form_pk": fourth.id, "enabled": "1", "csrf_token": token})
    assert resp.status_code == 500 and "at most 3 journeys" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Journey, fourth.id).enabled is False
    off = admin_client.post("/admin/journeys/ajax/update/", data={
        "list_form_pk": fourth.id, "automation": "", "csrf_token": token})
    assert off.status_code == 200
    db.session.expire_all()
    assert db.session.get(Journey, fourth.id).automation is False


def test_a_syncing_journey_cannot_be_edited(admin_client):
    journey = make_journey("dental", sync_started_at=datetime(2025, 3, 1, tzinfo=timezone.utc))
    url = f"/admin/journeys/edit/?id={journey.id}"
    page = admin_client.get(url).get_data(as_text=True)
    assert "cannot be changed until the sync has finished" in page
    resp = post_form(admin_client, url, journey_data(key="dental") | {"name": "Renamed"})
    assert resp.status_code == 200
    assert any("syncing" in e for e in flashed_errors(resp.get_data(as_text=True)))
    db.session.expire_all()
    assert db.session.get(Journey, journey.id).name == "Dental"


def test_journey_pages_render(admin_client):
    seed_tags("a")
    post_form(admin_client, NEW, journey_data(stages=[([tags_rule("a")], [
        {"day": "1", "hour": "9", "kind": "stage", "text": "hi"}])]))
    journey = db.session.scalar(select(Journey))
    html = admin_client.get(f"/admin/journeys/edit/?id={journey.id}").get_data(as_text=True)
    stage, = editor_state(html)["stages"]
    assert [[(c["kind"], c["tags"]) for c in r["conditions"]] for r in stage["rules"]] == [
        [("tags_any", ["a"])]]
    assert [(r["day"], r["hour"], r["text"]) for r in stage["reminders"]] == [(1, 9, "hi")]
    assert stage["sentence"] == "has tag a"
    assert admin_client.get("/admin/journeys/").status_code == 200
    assert admin_client.get(f"/admin/journeys/details/?id={journey.id}").status_code == 200


def test_a_card_reads_its_edited_rules_from_the_server(admin_client):
    token = csrf_token_from(admin_client.get(NEW).get_data(as_text=True))
    rules = [[{"kind": "tags_any", "tags": ["拔牙"]}],
             [{"kind": "tags_any", "tags": ["种牙", "补牙"]}, {"kind": "stage", "value": "付费"}]]
    resp = admin_client.post("/admin/journeys/sentence/", json={"rules": rules},
                             headers={"X-CSRFToken": token})
    assert resp.get_json() == {"sentence": "has tag 拔牙 or (has tag 种牙/补牙 and stage 付费)"}
    refused = admin_client.post("/admin/journeys/sentence/", json={"rules": rules})
    assert refused.status_code == 400  # no CSRF token
