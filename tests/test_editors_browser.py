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
    if not suffix:  # the new editor's other steps, on the SOP with messages and attachments
        sunscreen = db.session.scalar(select(Sop).where(Sop.key == "sunscreen-revisit"))
        page.goto(screen_url(app, Sop, "edit_view", id=sunscreen.id))
        page.wait_for_load_state("networkidle")
        next_step(page, 2)
        page.screenshot(path=str(SCREENSHOTS / "sop-edit-steps.png"), full_page=True)
        next_step(page, 3)
        next_step(page, 4)
        page.locator("#sop-review .lead").wait_for()
        page.screenshot(path=str(SCREENSHOTS / "sop-edit-review.png"), full_page=True)
    journey = db.session.scalar(select(Journey).order_by(Journey.id))
    page.goto(screen_url(app, Journey, "edit_view", id=journey.id))
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SCREENSHOTS / f"journey-edit{suffix}.png"), full_page=True)
    if not suffix:
        page.locator(".je-card").first.locator("[data-action=edit]").click()
        page.screenshot(path=str(SCREENSHOTS / "journey-edit-stage.png"), full_page=True)


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


def add_step(page, day: str, at: str, text: str) -> str:
    """Click "Add step" and fill the new inline row; returns its id prefix."""
    from tests.support.browser import choose

    page.click("#steps-button")
    prefix = page.locator("#steps .inline-field-list > .inline-field").last.get_attribute("id")
    page.fill(f"#{prefix}-day", day)
    page.fill(f"#{prefix}-at_time", at)
    choose(page, f"#{prefix}-action", "message")
    page.fill(f"#{prefix}-text", text)
    return prefix


def next_step(page, number: int) -> None:
    """Click Next and wait for the editor to show step `number`."""
    page.click(".wizard-buttons [data-go=next]")
    page.locator(f".sop-wizard-nav li.active[data-step='{number}']").wait_for()


def test_sop_editor_catches_a_bad_step_at_step_two_then_saves_after_the_review(app, page):
    from models import Customer
    from models.audit import acting_as
    from models.base import utcnow
    from tests.support.browser import choose, save

    make_user("admin", "admin")
    with acting_as("test"):
        db.session.add(Customer(external_id="c1", name="王小明", added_at=utcnow()))
        db.session.commit()
    sign_in(page, "admin")
    page.goto("/lang/en")  # messages below are matched in English
    page.goto(screen_url(app, Sop, "create_view"))
    assert page.locator(".sop-wizard-nav li").count() == 4
    assert not page.locator("form.admin-form input[type=submit].btn-primary").is_visible()

    page.fill("#key", "browser-welcome")
    page.fill("#name", "Browser welcome")
    choose(page, "#kind", "nurture")
    next_step(page, 2)
    first = add_step(page, "0", "10:00", "Welcome!")
    second = add_step(page, "-1", "11:00", "Too early")
    assert (first, second) == ("steps-0", "steps-1")
    rows = page.locator("#steps .inline-field-list > .inline-field")
    assert rows.first.get_attribute("id") == "steps-1", "day -1 runs first: its row moves up"
    counter = page.locator(f".char-count[data-for='{first}-text']")
    assert counter.inner_text().startswith("8 characters, 8 of 4000 bytes")
    page.fill(f"#{first}-text", "欢迎!")
    assert counter.inner_text().startswith("3 characters, 7 of 4000 bytes")

    # Refused at step 2: the message is on the bad day, nothing is saved.
    page.click(".wizard-buttons [data-go=next]")
    day = page.locator(f"#{second}-day")
    page.locator(f"#{second} .invalid-feedback").first.wait_for()
    assert "is-invalid" in (day.get_attribute("class") or "")
    assert "≥ 0" in page.locator(f"#{second} .invalid-feedback").first.inner_text()
    assert page.locator(".sop-wizard-nav li.active").get_attribute("data-step") == "2"
    db.session.rollback()
    assert db.session.scalar(select(Sop).where(Sop.key == "browser-welcome")) is None

    day.fill("1")
    day.press("Tab")
    assert rows.first.get_attribute("id") == "steps-0"
    next_step(page, 3)
    next_step(page, 4)
    review = page.locator("#sop-review")
    assert "Would enter now: 1 customers" in review.inner_text()
    assert "王小明" in review.inner_text()
    db.session.rollback()
    assert db.session.scalar(select(Sop).where(Sop.key == "browser-welcome")) is None
    save(page)

    assert page.url.split("?")[0].endswith(screen_url(app, Sop)), page.url
    db.session.rollback()
    sop = db.session.scalar(select(Sop).where(Sop.key == "browser-welcome"))
    assert sop is not None and sop.name == "Browser welcome"
    assert [(s.day, s.text) for s in sorted(sop.steps, key=lambda s: s.position)] == \
        [(0, "欢迎!"), (1, "Too early")]
