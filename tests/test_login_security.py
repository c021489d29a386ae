"""Failed sign-ins limited per account and per address, cookies and headers, password policy."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from admin_views.security import clear_all, limiter_storage_uri
from jobs.core.passwords import MIN_LENGTH, problems
from models import AuditLog, User, db
from tests.conftest import PASSWORD, csrf_token_from, login, make_user, post_form


def attempt(client, username, password, address="127.0.0.1"):
    env = {"REMOTE_ADDR": address}
    token = csrf_token_from(client.get("/login", environ_base=env).get_data(as_text=True))
    return client.post("/login", environ_base=env, data={
        "username": username, "password": password, "csrf_token": token})


@pytest.fixture
def limits(app):
    saved = (app.config["LOGIN_FAILURES_PER_ACCOUNT"], app.config["LOGIN_FAILURES_PER_ADDRESS"])
    app.config["LOGIN_FAILURES_PER_ACCOUNT"] = "3 per 15 minutes"
    app.config["LOGIN_FAILURES_PER_ADDRESS"] = "5 per 15 minutes"
    yield
    app.config["LOGIN_FAILURES_PER_ACCOUNT"], app.config["LOGIN_FAILURES_PER_ADDRESS"] = saved
    clear_all(app)


def lockouts():
    return db.session.scalars(select(AuditLog).where(AuditLog.action == "lockout")).all()


def test_an_account_locks_after_n_failures_even_with_the_right_password(client, limits):
    make_user("ops1", "ops")
    assert [attempt(client, "ops1", "wrong").status_code for _ in range(2)] == [400, 400]
    assert lockouts() == []
    third = attempt(client, "ops1", "wrong")
    assert third.status_code == 429
    assert "Too many failed sign-ins" in third.get_data(as_text=True) \
        or "登录失败次数过多" in third.get_data(as_text=True)
    rows = lockouts()
    assert len(rows) == 1 and rows[0].object_type == "login" and "ops1" in rows[0].summary
    # locked: even the right password is refused, from another address too
    assert attempt(client, "ops1", PASSWORD, address="198.51.100.7").status_code == 429
    assert client.get("/admin/").status_code == 302
    assert len(lockouts()) == 1  # one row per lockout, not per refused try


def test_an_address_locks_after_n_failures_across_accounts(client, limits):
    make_user("ops2", "ops")
    for name in ("a1", "a2", "a3", "a4"):
        assert attempt(client, name, "wrong", address="192.0.2.50").status_code == 400
    assert attempt(client, "a5", "wrong", address="192.0.2.50").status_code == 429
    assert attempt(client, "ops2", PASSWORD, address="192.0.2.50").status_code == 429
    assert attempt(client, "ops2", PASSWORD, address="192.0.2.51").status_code == 302


def test_a_successful_sign_in_clears_the_account_count(app, client, limits):
    make_user("ops3", "ops")
    for _ in range(2):
        attempt(client, "ops3", "wrong", address="192.0.2.60")
    assert attempt(client, "ops3", PASSWORD, address="192.0.2.60").status_code == 302
    again = app.test_client()
    assert [attempt(again, "ops3", "wrong").status_code for _ in range(2)] == [400, 400]


def test_the_lockout_message_is_chinese_by_default(client, limits):
    for _ in range(3):
        last = attempt(client, "nobody", "wrong")
    assert "登录失败次数过多" in last.get_data(as_text=True)


def test_limiter_storage_follows_redis_url():
    assert limiter_storage_uri("unix:///tmp/r.sock") == "redis+unix:///tmp/r.sock"
    assert limiter_storage_uri("rediss://h:6380/0") == "rediss://h:6380/0"
    assert limiter_storage_uri(None) == "memory://"


# --- cookies and headers -------------------------------------------------------------------
def test_session_cookie_is_httponly_lax_and_secure_when_configured(app, client):
    make_user("ops4", "ops")
    resp = login(client, "ops4")
    cookie = resp.headers.get("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    app.config["SESSION_COOKIE_SECURE"] = True
    try:
        other = app.test_client()
        secure = login(other, "ops4").headers.get("Set-Cookie")
        assert "Secure" in secure
    finally:
        app.config["SESSION_COOKIE_SECURE"] = False


@pytest.mark.parametrize("path", ["/login", "/admin/", "/healthz", "/api/v1/customers"])
def test_security_headers_on_every_answer(admin_client, path):
    resp = admin_client.get(path)
    headers = resp.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    csp = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert csp["script-src"].startswith("'self'") and "unsafe-inline" not in csp["script-src"]
    assert csp["frame-ancestors"] == "'none'"
    assert resp.headers.get("X-Request-ID")


def test_a_request_id_is_echoed_and_a_bad_one_replaced(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}) \
        .headers["X-Request-ID"] == "abc-123"
    replaced = client.get("/healthz", headers={"X-Request-ID": "bad id <x>"})
    assert replaced.headers["X-Request-ID"] != "bad id <x>"
    assert len(replaced.headers["X-Request-ID"]) == 32


def test_admin_pages_have_no_inline_scripts_of_their_own(admin_client):
    html = admin_client.get("/admin/").get_data(as_text=True)
    nonce = admin_client.get("/admin/").headers["Content-Security-Policy"]
    assert "/assets/js/panel.js" in html and "/assets/js/stock-handlers.js" in html
    assert "'nonce-" in nonce or "<script>" not in html


# --- password policy --------------------------------------------------------------------------
@pytest.mark.parametrize("password, expected", [
    ("short", ["too_short"]), ("password123", ["common"]), ("Password123", ["common"]),
    ("a" * 201, ["too_long"]), ("carol-the-admin", ["username"]),
    ("a sentence nobody uses", [])])
def test_password_problems(password, expected):
    assert problems(password, "carol-the-admin") == expected
    assert MIN_LENGTH == 10


def test_admin_form_refuses_short_and_common_passwords(admin_client):
    for password, message in (("short-pw", "密码至少需要 10 个字符"),
                              ("password123", "这个密码太常见了")):
        resp = post_form(admin_client, "/admin/users/new/", {
            "username": "erin", "role": "ops", "password": password})
        assert message in resp.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.username == "erin")) is None
    ok = post_form(admin_client, "/admin/users/new/", {
        "username": "erin", "role": "ops", "password": "a sentence nobody uses",
        "active": "y"})
    assert ok.status_code == 302
    assert db.session.scalar(select(User).where(User.username == "erin")) is not None


def test_cli_refuses_weak_passwords(app):
    runner = app.test_cli_runner()
    weak = runner.invoke(args=["users", "create", "frank", "--role", "ops",
                               "--password", "qwertyuiop"])
    assert weak.exit_code != 0 and "too common" in weak.output
    short = runner.invoke(args=["users", "create", "frank", "--role", "ops",
                                "--password", "abc12345"])
    assert short.exit_code != 0 and "at least 10" in short.output
    assert db.session.scalar(select(User).where(User.username == "frank")) is None
    generated = runner.invoke(args=["users", "create", "frank", "--role", "ops"])
    assert generated.exit_code == 0, generated.output
