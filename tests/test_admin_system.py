"""Settings (write-only secrets), the audit log, SOP versions and user logins."""
import pytest
from sqlalchemy import func, select

from models import AuditLog, Customer, Settings, Sop, SopVersion, User, db
from models.audit import acting_as
from tests.conftest import csrf_token_from, login, make_user, post_form
from tests.test_admin_support import field_errors, flashed_errors, fresh_client, signed_in

SECRET, TOKEN, AES = "s3cr3t-value-xyz", "callback-tok-123", "A" * 43
SETTINGS_FORM = {"timezone": "Asia/Shanghai", "quota_limit": "1", "quota_period": "day",
                 "max_lateness_days": "3", "channel": "task", "lifecycle_stages": "潜在,付费",
                 "tier_high_threshold": "500000", "tier_potential_threshold": "100000"}


@pytest.fixture
def admin_client(app, admin_user):
    """conftest's admin client, but each request with a fresh `g`, in English."""
    return signed_in(app, "admin")


def settings_url(admin_client) -> str:
    resp = admin_client.get("/admin/settings/")
    assert resp.status_code == 302
    return resp.location


def test_secrets_are_saved_but_never_shown_again(admin_client):
    url = settings_url(admin_client)
    resp = post_form(admin_client, url, SETTINGS_FORM | {
        "wecom_secret": SECRET, "wecom_callback_token": TOKEN, "wecom_aes_key": AES,
        "wecom_corp_id": "ww123"})
    assert resp.status_code == 302, flashed_errors(resp.get_data(as_text=True))
    db.session.expire_all()
    row = Settings.get(db.session)
    assert (row.wecom_secret, row.wecom_callback_token, row.wecom_aes_key) == (SECRET, TOKEN,
                                                                               AES)
    assert row.lifecycle_stages == ["潜在", "付费"]
    page = admin_client.get(url).get_data(as_text=True)
    assert "ww123" in page
    for secret in (SECRET, TOKEN, AES):
        assert secret not in page
    assert "A value is stored; leave blank to keep it." in page
    audit = admin_client.get("/admin/audit_log/").get_data(as_text=True)
    logged = " ".join(str(a.before) + str(a.after) for a in db.session.scalars(select(AuditLog)))
    assert SECRET not in audit and SECRET not in logged


def test_blank_secret_keeps_the_stored_one(admin_client):
    url = settings_url(admin_client)
    post_form(admin_client, url, SETTINGS_FORM | {"wecom_secret": SECRET})
    post_form(admin_client, url, SETTINGS_FORM | {"wecom_secret": "", "quota_limit": "2"})
    db.session.expire_all()
    row = Settings.get(db.session)
    assert (row.wecom_secret, row.quota_limit) == (SECRET, 2)


def test_settings_are_checked_by_the_config_rules(admin_client):
    url = settings_url(admin_client)
    resp = post_form(admin_client, url, SETTINGS_FORM | {
        "timezone": "Mars/Olympus", "wecom_aes_key": "short", "tier_potential_threshold": "900000"})
    html = resp.get_data(as_text=True)
    assert field_errors(html, "timezone") == ["unknown time zone 'Mars/Olympus'"]
    assert field_errors(html, "wecom_aes_key") == ["EncodingAESKey is 43 characters"]
    assert field_errors(html, "tier_potential_threshold") == [
        "must not exceed the high threshold"]
    assert "short" not in html  # a refused secret is not echoed either
    db.session.expire_all()
    assert Settings.get(db.session).timezone == "Asia/Shanghai"
    assert Settings.get(db.session).wecom_aes_key is None


def test_webhook_channel_needs_a_url(admin_client):
    url = settings_url(admin_client)
    resp = post_form(admin_client, url, SETTINGS_FORM | {"channel": "webhook"})
    assert field_errors(resp.get_data(as_text=True), "webhook_url") == ["is required"]


def test_settings_cannot_be_created_deleted_or_shown_in_details(admin_client):
    url = settings_url(admin_client)
    assert admin_client.get("/admin/settings/new/").status_code == 302
    assert admin_client.get("/admin/settings/details/?id=1").status_code == 302
    token = csrf_token_from(admin_client.get(url).get_data(as_text=True))
    admin_client.post("/admin/settings/delete/", data={"id": 1, "csrf_token": token})
    assert db.session.get(Settings, 1) is not None


def test_audit_log_is_read_only_and_escaped(admin_client):
    with acting_as("test"):
        db.session.add(Customer(external_id="x1", name="<b>bold</b>"))
        db.session.commit()
    entry = db.session.scalar(select(AuditLog).where(AuditLog.object_type == "Customer"))
    details = admin_client.get(f"/admin/audit_log/details/?id={entry.id}")
    html = details.get_data(as_text=True)
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<pre>" in html  # the after-values as pretty JSON
    assert admin_client.get("/admin/audit_log/new/").status_code == 302
    assert admin_client.get(f"/admin/audit_log/edit/?id={entry.id}").status_code == 302
    token = csrf_token_from(html)
    before = db.session.scalar(select(func.count(AuditLog.id)))
    admin_client.post("/admin/audit_log/delete/", data={"id": entry.id, "csrf_token": token})
    assert db.session.get(AuditLog, entry.id) is not None
    assert db.session.scalar(select(func.count(AuditLog.id))) >= before


def test_audit_log_filters_by_actor(admin_client):
    with acting_as("alice"):
        db.session.add(Customer(external_id="a1", name="From Alice"))
        db.session.commit()
    with acting_as("bob"):
        db.session.add(Customer(external_id="b1", name="From Bob"))
        db.session.commit()
    html = admin_client.get("/admin/audit_log/?flt0_0=alice").get_data(as_text=True)
    assert "From Alice" in html and "From Bob" not in html


def test_versions_screen_lists_sop_versions_read_only(app, admin_client):
    from tests.test_admin_sops import sop_data

    post_form(admin_client, "/admin/sops/new/", sop_data())
    sop = db.session.scalar(select(Sop))
    version = db.session.scalar(select(SopVersion))
    make_user("ops1", "ops")
    ops = signed_in(app, "ops1")
    listing = ops.get(f"/admin/sop_versions/?flt0_0={sop.id}")
    assert listing.status_code == 200 and "Welcome [welcome]" in listing.get_data(as_text=True)
    details = ops.get(f"/admin/sop_versions/details/?id={version.id}").get_data(as_text=True)
    assert "key: welcome" in details
    assert ops.get("/admin/sop_versions/new/").status_code == 302
    assert ops.get(f"/admin/sop_versions/edit/?id={version.id}").status_code == 302


def test_user_password_is_hashed_never_shown_and_kept_when_blank(app, admin_client):
    resp = post_form(admin_client, "/admin/users/new/", {
        "username": "carol", "password": "long-enough-pw", "role": "ops", "active": "y"})
    assert resp.status_code == 302, flashed_errors(resp.get_data(as_text=True))
    carol = db.session.scalar(select(User).where(User.username == "carol"))
    assert carol.check_password("long-enough-pw") and "long-enough-pw" not in carol.password_hash
    edit = f"/admin/users/edit/?id={carol.id}"
    page = admin_client.get(edit).get_data(as_text=True)
    assert carol.password_hash not in page
    post_form(admin_client, edit, {"username": "carol", "password": "", "role": "sales",
                                   "active": "y"})
    db.session.expire_all()
    assert carol.role == "sales" and carol.check_password("long-enough-pw")
    carol_client = fresh_client(app)
    login(carol_client, "carol", "long-enough-pw")
    assert carol_client.get("/admin/").status_code == 200


def test_new_user_needs_a_password_of_eight_characters(admin_client):
    none = post_form(admin_client, "/admin/users/new/", {"username": "dan", "role": "ops"})
    assert field_errors(none.get_data(as_text=True), "password") == [
        "A new user needs a password."]
    short = post_form(admin_client, "/admin/users/new/", {"username": "dan", "role": "ops",
                                                         "password": "short"})
    assert field_errors(short.get_data(as_text=True), "password")
    assert db.session.scalar(select(User).where(User.username == "dan")) is None


def test_an_employee_with_customers_login_or_sop_cannot_be_deleted(admin_client):
    from models import Employee
    from tests.conftest import make_employee

    def delete(employee):
        token = csrf_token_from(admin_client.get("/admin/employees/").get_data(as_text=True))
        return admin_client.post("/admin/employees/delete/", data={
            "id": employee.id, "csrf_token": token}, follow_redirects=True).get_data(as_text=True)

    with acting_as("test"):
        owner, linked, member, free = (make_employee(u) for u in ("zhang", "li", "wang", "zhao"))
        db.session.add(Customer(external_id="c1", name="C1", owner=owner))
        db.session.add(Sop(key="care", name="Care", kind="nurture", members=[member]))
        db.session.commit()
    make_user("li-login", "sales", linked)
    for employee, why in ((owner, "owns 1 customer"), (linked, "is the employee of login li-login"),
                          (member, "is a member of SOP care")):
        page = delete(employee)
        assert why in page and "Deactivate the employee instead." in page, employee.userid
        assert "IntegrityError" not in page
    delete(free)
    assert set(db.session.scalars(select(Employee.userid))) == {"zhang", "li", "wang"}


def test_a_department_with_employees_cannot_be_deleted(admin_client):
    from models import Department
    from tests.conftest import make_department, make_employee

    with acting_as("test"):
        make_employee("zhang", department="华东销售")
        empty = make_department("空部门")
        db.session.commit()
    full = db.session.scalar(select(Department).where(Department.name == "华东销售"))

    def delete(department):
        token = csrf_token_from(admin_client.get("/admin/departments/").get_data(as_text=True))
        return admin_client.post("/admin/departments/delete/", data={
            "id": department.id, "csrf_token": token}, follow_redirects=True).get_data(as_text=True)

    page = delete(full)
    assert "1 employees belong to it" in page and "IntegrityError" not in page
    delete(empty)
    assert set(db.session.scalars(select(Department.name))) == {"华东销售"}
