"""Helpers for tests that drive Debian's chromium through playwright.

The fixtures (`live_server`, `browser`, `page`) are in tests/conftest.py; these
are the plain functions a browser test calls on a playwright `page`.
"""
from __future__ import annotations

import os
import re

import pytest
from flask import url_for

from tests.conftest import PASSWORD

CHROMIUM = os.environ.get("SOP_CHROMIUM", "/usr/bin/chromium")  # Debian's package
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-quic", "--no-first-run", "--disable-component-update",
                 "--disable-sync"]
TIMEOUT_MS = 15_000


def browser_unavailable(reason: str):
    """Skip, or fail under `make test` / CI (SOP_REQUIRE_BROWSER=1)."""
    if os.environ.get("SOP_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}. `make test` and CI need a real browser: "
                    f"apt-get install chromium (or unset SOP_REQUIRE_BROWSER to skip).",
                    pytrace=False)
    pytest.skip(reason)


def screen_url(app, model, view_name: str = "index_view", **values) -> str:
    """The URL of the admin screen for `model` (whatever endpoint it was given)."""
    views = [v for v in app.extensions["admin"][0]._views
             if getattr(v, "model", None) is model]
    assert views, f"no admin screen for {model.__name__}"
    with app.test_request_context():
        return url_for(f"{views[0].endpoint}.{view_name}", **values)


def outside_requests(page, base_url: str) -> list[str]:
    """The URLs the page asks for outside the app (filled as the page loads)."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if not r.url.startswith(base_url) else None)
    return seen


def sign_in(page, username: str, password: str = PASSWORD) -> None:
    """Through the login form, as a person would."""
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))


def save(page) -> None:
    """Click Flask-Admin's main Save button; the page it leads to must load."""
    with page.expect_navigation() as navigation:
        page.click("form.admin-form input[type=submit].btn-primary")
    response = navigation.value
    assert response.ok, f"{response.url} answered {response.status}"


def choose(page, selector: str, value: str) -> None:
    """Set a <select> even when Select2 has hidden it behind its own widget."""
    page.select_option(selector, value, force=True)
