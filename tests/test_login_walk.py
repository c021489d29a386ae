"""Every admin URL needs a login and every API URL needs a token.

The walk reads the app's URL map, so a screen or endpoint added later is
covered without touching this file.
"""
import re
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select

from models import AuditLog, db
from tests.conftest import csrf_token_from

# Flask-Admin gives each screen 9 rules (list, new, edit, details, delete,
# action, export, ajax lookup/update); 16 screens + the home page make 145,
# plus the screens' own (SOP lifecycle and progress, journey sync, manual end ...).
# A walk that finds fewer is not walking the real admin.
MIN_ADMIN_RULES = 145
# whoami, events, one customer, deliveries, SOPs: list, one, 4 moves, manual end,
# enroll by hand, preview
MIN_API_RULES = 13

VARIABLE = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
DUMMY_BY_CONVERTER = {"int": "1", "float": "1.0", "path": "x/y", "uuid":
                      "00000000-0000-0000-0000-000000000001"}


def concrete_path(rule) -> str:
    """The rule with a dummy value for every URL variable."""
    return VARIABLE.sub(lambda m: DUMMY_BY_CONVERTER.get(m["converter"] or "", "1"), rule.rule)


def rules_under(app, prefix: str):
    return [rule for rule in app.url_map.iter_rules()
            if rule.rule.startswith(prefix)
            and rule.endpoint != "static" and not rule.endpoint.endswith(".static")]


def assert_redirects_to_login(resp, path: str, method: str) -> None:
    assert resp.status_code == 302, f"anonymous {method} {path} gave {resp.status_code}"
    target = urlsplit(resp.location)
    assert target.path == "/login", f"anonymous {method} {path} went to {resp.location}"
    assert parse_qs(target.query)["next"][0].startswith(path.split("?")[0])


def test_every_admin_url_sends_anonymous_visitors_to_login(app, client):
    rules = rules_under(app, "/admin")
    assert len(rules) >= MIN_ADMIN_RULES, f"only {len(rules)} admin rules: {rules}"
    # Writes carry a valid CSRF token: it must not be enough without a login.
    csrf = csrf_token_from(client.get("/login").get_data(as_text=True))
    for rule in rules:
        path = concrete_path(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            data = None if method == "GET" else {"csrf_token": csrf}
            assert_redirects_to_login(client.open(path, method=method, data=data),
                                      path, method)


def test_every_screen_is_mounted_under_admin(app):
    """The walk above covers a screen only if its URL is under /admin."""
    views = app.extensions["admin"][0]._views
    assert [v.endpoint for v in views if not v.url.startswith("/admin")] == []


def test_every_api_url_answers_401_json_without_a_token(app, client):
    rules = rules_under(app, "/api/v1")
    assert len(rules) >= MIN_API_RULES
    audited_before = db.session.scalar(select(func.count()).select_from(AuditLog))
    for rule in rules:
        path = concrete_path(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            body = None if method == "GET" else {"type": "customer_added", "external_id": "x"}
            resp = client.open(path, method=method, json=body)
            assert resp.status_code == 401, f"{method} {path} gave {resp.status_code}"
            assert resp.is_json, f"{method} {path} did not answer JSON"
            assert resp.json["error"] == "unauthorized" and resp.json["detail"]
            bad = client.open(path, method=method, json=body,
                              headers={"Authorization": "Bearer wrong"})
            assert bad.status_code == 401 and bad.json["error"] == "unauthorized"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == audited_before
