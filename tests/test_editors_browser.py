"""The SOP editor in steps and the journey editor as stage cards, in a real browser.

With SOP_SCREENSHOTS=1, `test_editor_screenshots` loads the demo data and saves
docs/screenshots/sop-edit.png and journey-edit.png (SOP_SCREENSHOT_SUFFIX=-before
names the pictures of the old screens).
"""
from __future__ import annotations

import os

import pytest
from sqlalchemy import select

from models import Journey, Sop, db
from tests.conftest import make_user
from tests.support.browser import screen_url, sign_in
from tests.test_browser import SCREENSHOTS

pytestmark = pytest.mark.browser


@pytest.mark.skipif(os.environ.get("SOP_SCREENSHOTS") != "1",
                    reason="set SOP_SCREENSHOTS=1 to refresh docs/screenshots")
def test_editor_screenshots(app, page):
    """The SOP and journey edit screens of the demo data at 1440 px, in Chinese."""
    result = app.test_cli_runner().invoke(args=["seed", "demo"])
    assert result.exit_code == 0, result.output
    make_user("ops.lead", "admin")
    sign_in(page, "ops.lead")
    suffix = os.environ.get("SOP_SCREENSHOT_SUFFIX", "")
    page.set_viewport_size({"width": 1440, "height": 1000})
    sop = db.session.scalar(select(Sop).order_by(Sop.id))
    page.goto(screen_url(app, Sop, "edit_view", id=sop.id))
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SCREENSHOTS / f"sop-edit{suffix}.png"), full_page=True)
    journey = db.session.scalar(select(Journey).order_by(Journey.id))
    page.goto(screen_url(app, Journey, "edit_view", id=journey.id))
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SCREENSHOTS / f"journey-edit{suffix}.png"), full_page=True)


def journey_export(key: str) -> dict:
    from config_io.export import journey_to_dict

    db.session.rollback()
    journey = db.session.scalar(select(Journey).where(Journey.key == key))
    assert journey is not None, f"journey {key} was not saved"
    return journey_to_dict(journey)


def test_journey_built_on_the_cards_is_saved_and_reopens_unchanged(app, page):
    from models import JourneyReminder, Tag
    from models.audit import acting_as
    from tests.support.browser import choose, save

    make_user("admin", "admin")
    with acting_as("test"):
        db.session.add_all(Tag(name=n) for n in ("拔牙", "种牙", "补牙"))
        db.session.commit()
    sign_in(page, "admin")
    page.goto("/lang/en")
    page.goto(screen_url(app, Journey, "create_view"))
    page.fill("#key", "dental")
    page.fill("#name", "Dental")

    page.click("[data-action=add-stage]")
    page.fill("#je-stage-key", "extracted")
    page.fill("#je-stage-name", "After extraction")
    page.click("[data-action=add-rule]")
    choose(page, ".je-rule >> nth=0 >> select.je-tags", "拔牙")
    page.click("[data-action=add-rule]")
    choose(page, ".je-rule >> nth=1 >> select.je-tags", ["种牙", "补牙"])
    page.locator(".je-rule").nth(1).locator("[data-action=add-condition]").click()
    choose(page, ".je-rule >> nth=1 >> .je-condition >> nth=1 >> select.je-kind", "stage")
    choose(page, ".je-rule >> nth=1 >> .je-condition >> nth=1 >> select.je-value", "付费")
    page.click("[data-action=add-reminder]")
    page.fill(".je-day", "1")
    page.fill(".je-hour", "24")  # refused by the server, shown at the hour
    page.fill(".je-text", "Care instructions")
    page.click("[data-action=done]")
    first_card = page.locator(".je-card").first
    first_card.get_by_text("has tag 拔牙 or (has tag 种牙/补牙 and stage 付费)").wait_for()

    page.click("[data-action=add-stage]")
    page.fill("#je-stage-key", "lost")
    page.fill("#je-stage-name", "Lost")
    page.click("[data-action=add-rule]")
    choose(page, "select.je-kind", "churn_status")
    choose(page, "select.je-value", "lost")
    page.click("[data-action=done]")
    page.locator(".je-card").nth(1).locator("[data-action=left]").click()  # lost goes first
    save(page)

    hour = page.locator(".je-panel .je-hour")
    assert "is-invalid" in (hour.get_attribute("class") or ""), "the bad hour is not marked"
    assert "≤ 23" in page.locator(".je-panel .je-error").first.inner_text()
    db.session.rollback()
    assert db.session.scalar(select(Journey).where(Journey.key == "dental")) is None
    assert db.session.scalar(select(JourneyReminder)) is None

    hour.fill("9")
    save(page)
    saved = journey_export("dental")
    assert [s["key"] for s in saved["stages"]] == ["lost", "extracted"]
    assert saved["stages"][1]["rules"] == [
        {"tags_any": ["拔牙"]}, {"all": [{"tags_any": ["种牙", "补牙"]}, {"stage": "付费"}]}]
    assert saved["stages"][1]["reminders"] == [
        {"day": 1, "hour": 9, "kind": "stage", "text": "Care instructions"}]

    journey_id = db.session.scalar(select(Journey.id).where(Journey.key == "dental"))
    page.goto(screen_url(app, Journey, "edit_view", id=journey_id))
    assert page.locator(".je-card").count() == 2
    page.locator(".je-card").nth(1).get_by_text(
        "has tag 拔牙 or (has tag 种牙/补牙 and stage 付费)").wait_for()
    page.locator(".je-card").nth(1).locator("[data-action=edit]").click()
    page.click("[data-action=done]")
    save(page)
    assert journey_export("dental") == saved
