"""The OpenAPI 3.1 document of /api/v1 (api/openapi.py): every registered route is in
it and it lists nothing that is not registered; served at /api/v1/openapi.json to a
token or a signed-in user; rendered by the app's own static script on an admin page."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.openapi import DESCRIBED, document, path_of, registered
from tests.conftest import login, make_user
from tests.support.browser import outside_requests, sign_in
from tests.test_api_engine import bearer

TEMPLATE = Path(__file__).resolve().parents[1] / "admin_views/templates/admin/api_docs.html"


def test_path_of_turns_rules_into_openapi_paths():
    assert path_of("/api/v1/tasks/<int:task_id>/done") == "/tasks/{task_id}/done"
    assert path_of("/api/v1/sops/<key>/customers/<external_id>/end") == \
        "/sops/{key}/customers/{external_id}/end"


def test_every_registered_route_is_described_and_nothing_else_is_served(app):
    routes = registered(app)
    assert ("post", "/events") in routes and ("post", "/sops/{key}/pause") in routes
    assert routes - set(DESCRIBED) == set(), "routes missing from api/openapi.py"
    served = {(method, path) for path, ops in document(app)["paths"].items() for method in ops}
    assert served == routes


def test_the_document_is_openapi_3_1_with_parameters_for_every_path_variable(app):
    doc = document(app)
    assert doc["openapi"] == "3.1.0"
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, ops in doc["paths"].items():
        variables = set(re.findall(r"{([^}]+)}", path))
        for method, op in ops.items():
            assert op["responses"] and op["summary"], (method, path)
            in_path = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert in_path == variables, (method, path)
    refs = re.findall(r"#/components/schemas/(\w+)", str(doc))
    assert set(refs) <= set(doc["components"]["schemas"])


def test_served_to_a_token_or_a_signed_in_user_not_to_anyone(app, client):
    assert client.get("/api/v1/openapi.json").status_code == 401
    body = client.get("/api/v1/openapi.json", headers=bearer("ops", "ops")).get_json()
    assert "/sops/{key}/stats" in body["paths"]
    make_user("sales", "sales")
    login(client, "sales")
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/api/v1/sops").status_code == 401  # the session opens only the document


def test_the_page_uses_static_assets_only(app, client):
    text = TEMPLATE.read_text(encoding="utf-8")
    assert re.findall(r"<script(?![^>]*\bsrc=)", text) == []  # no inline script
    assert not re.search(r"\son\w+=", text)  # no inline event handlers
    assert client.get("/admin/api_docs/").status_code == 302  # login first
    make_user("sales", "sales")
    login(client, "sales")
    page = client.get("/admin/api_docs/").get_data(as_text=True)
    assert 'data-src="/api/v1/openapi.json"' in page
    script = client.get("/api/v1/static/openapi.js")
    assert script.status_code == 200 and "javascript" in script.content_type
    assert client.get("/api/v1/static/openapi.css").status_code == 200
    assert "http" not in script.get_data(as_text=True)  # nothing fetched from elsewhere


@pytest.mark.browser
def test_the_page_renders_every_operation(app, page, live_server):
    make_user("admin", "admin")
    outside = outside_requests(page, live_server)
    sign_in(page, "admin")
    page.goto("/admin/api_docs/")
    page.wait_for_selector("#openapi-doc[data-rendered='1']")
    assert page.locator(".openapi-op").count() == len(registered(app))
    page.locator(".openapi-op summary", has_text="/sops/{key}/stats").first.click()
    assert page.locator(".openapi-op[open] .openapi-table").count() >= 1
    assert outside == []
