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
