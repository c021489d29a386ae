"""The admin panel in a real browser: Debian's chromium driven by playwright.

The session app is served on a loopback port from a background thread, so the
browser exercises the real stack: login form, CSRF, Flask-Admin's JavaScript
for inline steps, server-side validation, the list view.

The fixtures (`page`, `browser`, `live_server`) are in conftest.py, the page
helpers in tests/support/browser.py. Without chromium these tests skip, except
under `make test` / CI (SOP_REQUIRE_BROWSER=1), where a missing browser fails.
With SOP_SCREENSHOTS=1, `test_screenshots` loads the demo data and saves
docs/screenshots/customer-list.png and settings.png.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from models import Customer, Settings, db
from tests.conftest import make_user
# Re-exported: other browser tests import these from here.
from tests.support.browser import (  # noqa: F401
    CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, browser_unavailable, choose, save, screen_url,
    sign_in,
)

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


@pytest.mark.skipif(os.environ.get("SOP_SCREENSHOTS") != "1",
                    reason="set SOP_SCREENSHOTS=1 to refresh docs/screenshots")
def test_screenshots(app, page):
    """docs/screenshots/*.png from the demo data, in the product's default language."""
    result = app.test_cli_runner().invoke(args=["seed", "demo"])
    assert result.exit_code == 0, result.output
    make_user("ops.lead", "admin")
    sign_in(page, "ops.lead")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page.set_viewport_size({"width": 1440, "height": 1000})
    # sop-edit.png and journey-edit.png: test_editors_browser.py
    page.goto(screen_url(app, Customer))
    page.wait_for_load_state("networkidle")
    assert page.locator("table.model-list tbody tr").count() > 0
    page.screenshot(path=str(SCREENSHOTS / "customer-list.png"))

    # The settings screen as it looks once a WeCom app is connected (example values).
    settings = Settings.get(db.session)
    settings.channel, settings.wecom_corp_id = "wecom", "ww5f3a1c9e2b7d4a60"
    settings.wecom_secret, settings.wecom_callback_token = "example-secret", "example-token"
    settings.wecom_aes_key = "A" * 43
    settings.welcome_message = "您好，我是您的专属顾问，有任何护肤问题随时问我～"
    db.session.commit()
    page.goto(screen_url(app, Settings))
    page.wait_for_load_state("networkidle")
    assert page.locator("#test-wecom").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "settings.png"), full_page=True)
