"""Inline lists in a real browser (the journey's stage cards are in
test_editors_browser.py).

test_browser.py keeps one playwright session open for the whole run, and the sync
API allows one per thread: this test drives its own browser from a worker thread.
"""
import os
import threading

import pytest
from werkzeug.serving import make_server

from models import db
from models.audit import acting_as
from tests.conftest import make_user
from tests.test_browser import (
    CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, browser_unavailable, choose, screen_url,
    sign_in,
)

pytestmark = pytest.mark.browser


def run_in_browser(app, scenario) -> None:
    """Serve the app on a loopback port and run `scenario(page)` in a fresh chromium."""
    if not os.access(CHROMIUM, os.X_OK):
        browser_unavailable(f"{CHROMIUM} is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        browser_unavailable("the playwright package is not installed")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    failure: list[BaseException] = []

    def drive():
        try:
            with sync_playwright() as playwright:
                chromium = playwright.chromium.launch(executable_path=CHROMIUM,
                                                      headless=True, args=CHROMIUM_ARGS)
                context = chromium.new_context(
                    base_url=f"http://127.0.0.1:{server.server_port}")
                context.set_default_timeout(TIMEOUT_MS)
                scenario(context.new_page())
                chromium.close()
        except BaseException as exc:  # re-raised in the test's thread
            failure.append(exc)

    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    driver.join(timeout=120)
    server.shutdown()
    serving.join(timeout=10)
    assert not driver.is_alive(), "the browser scenario did not finish in 2 minutes"
    if failure:
        raise failure[0]


def test_sop_steps_show_only_the_fields_of_their_action(app):
    from models import Sop, SopStep

    make_user("admin", "admin")
    with acting_as("test"):
        sop = Sop(key="welcome", name="Welcome", kind="new_customer")
        db.session.add(sop)
        db.session.flush()
        db.session.add(SopStep(sop_id=sop.id, position=0, day=0, at_time="10:00",
                               action="task", task_title="Call", text="Call them"))
        db.session.commit()
    edit_url = screen_url(app, Sop, "edit_view", id=sop.id)
    seen = {}

    def visible(page, prefix):
        names = ("text", "attachments", "task_title", "task_assignee", "task_deadline_hours",
                 "add_tags", "remove_tags", "stage")
        return {n for n in names
                if page.locator(f"#{prefix}{n}").locator("xpath=ancestor::div"
                                                         "[contains(@class,'form-group')][1]")
                .is_visible()}

    def scenario(page):
        sign_in(page, "admin")
        page.goto(edit_url)
        page.click(".sop-wizard-nav li[data-step='2']")  # the editor's step 2: the steps
        page.locator(".sop-wizard-nav li.active[data-step='2']").wait_for()
        seen["task"] = visible(page, "steps-0-")
        choose(page, "#steps-0-action", "tag")
        seen["tag"] = visible(page, "steps-0-")
        page.click("#steps-button")  # a new step starts as a message
        page.wait_for_selector("#steps-1-action", state="attached")
        seen["added"] = visible(page, "steps-1-")
        choose(page, "#steps-1-action", "stage")
        seen["stage"] = visible(page, "steps-1-")

    run_in_browser(app, scenario)
    assert seen == {"task": {"text", "task_title", "task_assignee", "task_deadline_hours"},
                    "tag": {"add_tags", "remove_tags"},
                    "added": {"text", "attachments"}, "stage": {"stage"}}
