"""Login, logout, CSRF and the API's bearer tokens."""
import pytest
from sqlalchemy import func, select

from models import ApiToken, AuditLog, User, db
from models.audit import acting_as
from tests.conftest import PASSWORD, csrf_token_from, login, make_user


def test_admin_redirects_to_login_when_signed_out(client):
    resp = client.get("/admin/")
    assert resp.status_code == 302
    assert resp.location.startswith("/login?next=/admin/")


def test_login_with_right_password_then_logout(client):
    make_user("ops1", "ops")
    login(client, "ops1")
    assert client.get("/admin/").status_code == 200
    page = client.get("/admin/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token_from(page)})
    assert client.get("/admin/").status_code == 302


def test_wrong_password_is_refused(client):
    make_user("ops1", "ops")
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"username": "ops1", "password": "nope",
                                       "csrf_token": token})
    assert resp.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_login_without_csrf_token_is_rejected(client):
    make_user("ops1", "ops")
    resp = client.post("/login", data={"username": "ops1", "password": PASSWORD})
    assert resp.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_passwords_are_hashed(client):
    user = make_user("ops1", "ops")
    assert PASSWORD not in user.password_hash
    assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))


def test_open_redirect_after_login_is_ignored(client):
    make_user("ops1", "ops")
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login?next=//evil.example/x",
                       data={"username": "ops1", "password": PASSWORD, "csrf_token": token})
    assert resp.location == "/admin/"


def test_cli_token_authenticates_api_and_is_stored_hashed(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "create", "bot", "--role", "ops",
                               "--password", "long-enough-pw"]).exit_code == 0
    result = runner.invoke(args=["users", "token", "bot"])
    assert result.exit_code == 0
    plain = result.output.strip()
    stored = db.session.scalar(select(ApiToken))
    assert stored.token_hash != plain and plain not in stored.token_hash
    client = app.test_client()
    ok = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {plain}"})
    assert ok.status_code == 200 and ok.json["username"] == "bot"
    bad = client.get("/api/v1/whoami", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json["error"] == "unauthorized"
    none = client.get("/api/v1/whoami")
    assert none.status_code == 401 and "Bearer" in none.json["detail"]


def test_cli_create_rejects_duplicates_and_bad_roles(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "create", "a", "--role", "ops",
                               "--password", "long-enough-pw"]).exit_code == 0
    dup = runner.invoke(args=["users", "create", "a", "--role", "ops",
                              "--password", "long-enough-pw"])
    assert dup.exit_code != 0 and "already exists" in dup.output
    bad = runner.invoke(args=["users", "create", "b", "--role", "king"])
    assert bad.exit_code != 0
    assert db.session.scalar(select(User).where(User.username == "b")) is None


def test_user_creation_is_audited(app):
    make_user("ops1", "ops")
    row = db.session.scalar(select(AuditLog).where(AuditLog.object_type == "User"))
    assert row.action == "create" and row.actor == "test"
    assert "password_hash" not in (row.after or {})
    assert row.after["username"] == "ops1"


def test_api_errors_are_json_even_for_unknown_urls(app):
    client = app.test_client()
    resp = client.get("/api/v1/no-such-thing")
    assert resp.status_code == 404
    assert resp.is_json and resp.json["error"] == "not_found"
    wrong_method = client.delete("/api/v1/whoami")
    assert wrong_method.status_code == 405 and wrong_method.is_json
    html = client.get("/no-such-page")
    assert html.status_code == 404 and not html.is_json


def test_password_change_is_audited_without_the_hash(app):
    user = make_user("ops1", "ops")
    with acting_as("boss"):
        user.set_password("another long password")
        db.session.commit()
    row = db.session.scalars(select(AuditLog).where(AuditLog.actor == "boss")).one()
    assert row.action == "update"
    assert row.before == {"password_hash": "(hidden)"}
    assert row.after == {"password_hash": "(changed)"}


def test_language_switch_writes_nothing(client):
    make_user("ops1", "ops")
    login(client, "ops1")
    before = db.session.scalar(select(func.count()).select_from(AuditLog))
    assert client.get("/lang/en").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == before
    assert "Sign out" in client.get("/admin/").get_data(as_text=True)


def test_sqlite_and_postgresql_both_enforce_foreign_keys(app):
    from sqlalchemy.exc import IntegrityError

    from models import Customer
    from tests.conftest import make_employee

    owner = make_employee("lina")
    db.session.add(Customer(external_id="c1", name="客户", owner=owner))
    db.session.commit()
    db.session.delete(owner)
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_forbidden_and_missing_pages_are_the_products_own(client):
    from tests.conftest import make_employee

    make_user("sales1", "sales", employee=make_employee("lina"))
    login(client, "sales1")
    forbidden = client.get("/admin/sops/")
    assert forbidden.status_code == 403
    assert "请向管理员申请" in forbidden.get_data(as_text=True)  # Chinese by default
    client.get("/lang/en")
    page = client.get("/admin/users/").get_data(as_text=True)
    assert "You do not have access to this page" in page and 'href="/admin/"' in page
    missing = client.get("/admin/no-such-screen/")
    assert missing.status_code == 404 and "This page does not exist" in missing.get_data(as_text=True)
