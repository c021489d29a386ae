"""The Content-Security-Policy in a real browser: no page of the panel breaks it.

Every screen of the menu, the main create forms, and the clicks that used to run
inline code (Flask-Admin's delete confirmation, "Add step", the list actions and
filters, our own confirmations) are exercised while chromium reports CSP
violations on the console; any violation fails the test.
"""
from __future__ import annotations

import re

import pytest
from flask import url_for

from models import Sop, db
from models.audit import acting_as
from tests.conftest import make_user
from tests.support.browser import sign_in

pytestmark = pytest.mark.browser

CREATE_FORMS = ("sops", "journeys", "customers", "users", "tags", "materials", "employees",
                "segments")


def screen_urls(app) -> list[str]:
    urls = []
    with app.test_request_context():
        for view in app.extensions["admin"][0]._views:
            if not view.is_visible():  # a form reached from other screens only
                continue
            name = "index_view" if hasattr(view, "model") else "index"
            urls.append(url_for(f"{view.endpoint}.{name}"))
            if view.endpoint in CREATE_FORMS:
                urls.append(url_for(f"{view.endpoint}.create_view"))
    return urls


def violations_of(page) -> list[str]:
    seen: list[str] = []
    page.on("console", lambda msg: seen.append(f"{page.url}: {msg.text}")
            if "Content Security Policy" in msg.text or "Refused to" in msg.text else None)
    page.on("pageerror", lambda exc: seen.append(f"{page.url}: {exc}"))
    return seen


def test_no_page_of_the_panel_violates_the_csp(app, page, org):
    make_user("admin", "admin")
    with acting_as("test"):
        db.session.add(Sop(key="welcome", name="Welcome", status="draft"))
        db.session.commit()
    seen = violations_of(page)
    page.on("dialog", lambda dialog: dialog.dismiss())  # confirmations: say no
    sign_in(page, "admin")
    for url in screen_urls(app):
        response = page.goto(url)
        assert response.ok, f"{url} answered {response.status}"
        csp = response.headers["content-security-policy"]
        assert "unsafe-inline" not in re.search(r"script-src[^;]*", csp).group(0)

    # clicks that ran inline handlers in Flask-Admin's stock templates
    page.goto("/admin/sops/")
    page.click("form.icon button")  # delete: the confirmation is dismissed, nothing deleted
    assert page.locator("text=Welcome").count() >= 1
    page.goto("/admin/customers/")
    page.click("a.dropdown-toggle:has-text('筛选'), a.dropdown-toggle:has-text('Add Filter')")
    page.locator("a.filter").first.click()
    welcome = db.session.scalar(db.select(Sop.id).where(Sop.key == "welcome"))
    page.goto(f"/admin/sops/edit/?id={welcome}")
    page.click(".sop-wizard-nav li[data-step='2']")  # the editor's step 2 (its own script)
    page.locator(".sop-wizard-nav li.active[data-step='2']").wait_for()
    page.click("#steps-button")  # "Add step": an inline row appears
    assert page.locator("#steps .inline-field").count() >= 1
    page.wait_for_timeout(300)  # let late console messages arrive
    assert seen == [], "\n".join(sorted(set(s[:200] for s in seen)))
