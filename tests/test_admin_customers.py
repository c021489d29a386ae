"""Which customer rows each role sees; customer lists, escaping and bulk tagging.
(Which screens each role opens: tests/test_admin_screens.py.)"""
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models import AuditLog, Customer, CustomerTag, Order, Tag, TagChange, db
from models.audit import acting_as
from tests.conftest import csrf_token_from
from tests.test_admin_support import admin_view, client_for, parse

XSS = "<script>alert(1)</script>"


def rows(html: str) -> set[str]:
    """External ids shown in the list table."""
    return {cell.all_text().strip() for cell in parse(html).walk()
            if cell.tag == "td" and "col-external_id" in cell.classes}


def test_sales_sees_only_own_customers(app, org):
    staff, customers = org
    client = client_for(app, "sales", staff["zhang"])
    html = client.get("/admin/customers/").get_data(as_text=True)
    assert rows(html) == {"ext-zhang"}
    other = customers["li"]
    assert client.get(f"/admin/customers/details/?id={other.id}").status_code == 404
    assert client.get(f"/admin/customers/details/?id={customers['zhang'].id}").status_code \
        == 200


def test_sales_without_employee_link_sees_nothing(app, org):
    client = client_for(app, "sales")
    assert rows(client.get("/admin/customers/").get_data(as_text=True)) == set()


def test_manager_sees_own_department_customers_and_staff(app, org):
    staff, _ = org
    client = client_for(app, "manager", staff["boss"])
    assert rows(client.get("/admin/customers/").get_data(as_text=True)) == {"ext-zhang",
                                                                            "ext-li"}
    employees = client.get("/admin/employees/").get_data(as_text=True)
    assert "zhang" in employees and "wang" not in employees
    assert client.get(f"/admin/employees/details/?id={staff['wang'].id}").status_code == 404
    # read-only: the edit form is not offered and a forged save changes nothing
    assert client.get(f"/admin/employees/edit/?id={staff['li'].id}").status_code == 302
    token = csrf_token_from(employees)
    client.post(f"/admin/employees/edit/?id={staff['li'].id}",
                data={"userid": "li", "name": "Hacked", "csrf_token": token})
    db.session.expire_all()
    assert staff["li"].name == "Li"


def test_service_sees_everyone_but_no_money(app, org):
    _, customers = org
    client = client_for(app, "service")
    html = client.get("/admin/customers/").get_data(as_text=True)
    assert rows(html) == {"ext-zhang", "ext-li", "ext-wang"}
    details = client.get(f"/admin/customers/details/?id={customers['li'].id}")
    for page in (html, details.get_data(as_text=True)):
        assert "Annual value" not in page and "annual_value" not in page
        assert "123456.78" not in page and "123,456" not in page
    admin = client_for(app, "admin")
    assert "Annual value" in admin.get("/admin/customers/").get_data(as_text=True)


def test_ops_reads_customers_but_cannot_create_them(app, org):
    client = client_for(app, "ops")
    assert client.get("/admin/customers/").status_code == 200
    assert client.get("/admin/customers/new/").status_code == 302
    token = csrf_token_from(client.get("/admin/customers/").get_data(as_text=True))
    client.post("/admin/customers/new/", data={"external_id": "x", "name": "x",
                                               "csrf_token": token})
    assert db.session.scalar(select(func.count(Customer.id))) == 3


def test_customer_name_with_script_is_escaped_on_list_and_details(app, org):
    _, customers = org
    with acting_as("test"):
        customers["zhang"].name = XSS
        db.session.commit()
    client = client_for(app, "admin")
    for url in ("/admin/customers/", f"/admin/customers/details/?id={customers['zhang'].id}"):
        html = client.get(url).get_data(as_text=True)
        assert XSS not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_tags_column_is_escaped(app, org):
    _, customers = org
    with acting_as("test"):
        tag = Tag(name=XSS)
        db.session.add(tag)
        db.session.flush()
        db.session.add(CustomerTag(customer_id=customers["zhang"].id, tag_id=tag.id))
        db.session.commit()
    html = client_for(app, "admin").get("/admin/customers/").get_data(as_text=True)
    assert XSS not in html and "&lt;script&gt;" in html


def run_tag_action(client, action: str, ids, tag: str):
    """Pick rows on the list with a bulk action, then name the tag on the next page."""
    token = csrf_token_from(client.get("/admin/customers/").get_data(as_text=True))
    page = client.post("/admin/customers/action/", data={
        "action": action, "rowid": [str(i) for i in ids], "csrf_token": token})
    assert page.status_code == 200, page.status_code
    form = parse(page.get_data(as_text=True))
    hidden = {n.attrs["name"]: n.attrs.get("value", "") for n in form.walk()
              if n.tag == "input" and n.attrs.get("type") == "hidden"}
    return client.post("/admin/customers/tags/", data=hidden | {"tag": tag})


def test_bulk_tag_actions_add_and_remove_with_history_and_audit(app, org):
    staff, customers = org
    client = client_for(app, "sales", staff["zhang"])
    own, foreign = customers["zhang"], customers["wang"]
    resp = run_tag_action(client, "add_tag", [own.id, foreign.id], "vip")
    assert resp.status_code == 302
    db.session.expire_all()
    assert [t.name for t in db.session.get(Customer, own.id).tags] == ["vip"]
    assert db.session.get(Customer, foreign.id).tags == []  # outside the user's rows
    change = db.session.scalar(select(TagChange))
    assert (change.customer_id, change.action, change.source) == (own.id, "added", "manual")
    link = db.session.scalar(select(CustomerTag))
    assert link.source == "manual"
    audit = db.session.scalar(select(AuditLog).where(AuditLog.object_type == "Customer",
                                                     AuditLog.actor == "sales"))
    assert audit.object_id == own.id and audit.before == {"tags": []} \
        and audit.after == {"tags": ["vip"]}

    run_tag_action(client, "add_tag", [own.id], "vip")  # already tagged: no new history
    assert db.session.scalar(select(func.count(TagChange.id))) == 1
    run_tag_action(client, "remove_tag", [own.id], "vip")
    db.session.expire_all()
    assert db.session.get(Customer, own.id).tags == []
    assert [c.action for c in db.session.scalars(select(TagChange).order_by(TagChange.id))] \
        == ["added", "removed"]


def test_service_cannot_tag_customers(app, org):
    _, customers = org
    client = client_for(app, "service")
    token = csrf_token_from(client.get("/admin/customers/").get_data(as_text=True))
    ids = str(customers["li"].id)
    client.post("/admin/customers/action/", data={"action": "add_tag", "rowid": ids,
                                                  "csrf_token": token})
    resp = client.post("/admin/customers/tags/", data={"ids": ids, "mode": "add",
                                                       "tag": "vip", "csrf_token": token})
    assert resp.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(CustomerTag)) == 0


def test_tag_filter_and_search(app, org):
    _, customers = org
    with acting_as("test"):
        vip = db.session.scalar(select(Tag))
        db.session.add(CustomerTag(customer_id=customers["li"].id, tag_id=vip.id))
        db.session.commit()
    client = client_for(app, "admin")
    view = admin_view(app, "customers")
    index = next(i for i, f in enumerate(view._filters) if type(f).__name__ == "HasTagFilter")
    tagged = client.get(f"/admin/customers/?flt0_{index}=vip").get_data(as_text=True)
    assert rows(tagged) == {"ext-li"}
    found = client.get("/admin/customers/?search=ext-wang").get_data(as_text=True)
    assert rows(found) == {"ext-wang"}


def test_orders_are_for_finance_and_admin_only(app, org):
    _, customers = org
    with acting_as("test"):
        db.session.add(Order(order_id="o-1", customer=customers["li"], amount=Decimal("88.50")))
        db.session.commit()
    finance = client_for(app, "finance")
    html = finance.get("/admin/orders/").get_data(as_text=True)
    assert "o-1" in html and "88.50" in html
    assert finance.get("/admin/orders/new/").status_code == 302  # read-only
    assert finance.get("/admin/customers/").status_code == 403
    for role in ("sales", "service"):
        assert client_for(app, role).get("/admin/orders/").status_code == 403


def test_added_filter_uses_local_days(app, org):
    from datetime import datetime, timezone

    _, customers = org
    with acting_as("test"):  # 00:30 and 23:30 in Shanghai, on either side of midnight
        customers["zhang"].added_at = datetime(2025, 3, 1, 16, 30, tzinfo=timezone.utc)
        customers["li"].added_at = datetime(2025, 3, 1, 15, 30, tzinfo=timezone.utc)
        db.session.commit()
    view = admin_view(app, "customers")
    index = next(i for i, f in enumerate(view._filters) if f.column is Customer.added_at)
    client = client_for(app, "admin")
    html = client.get(f"/admin/customers/?flt0_{index}=2025-03-02+to+2025-03-02")
    assert rows(html.get_data(as_text=True)) == {"ext-zhang"}


# --- review fixes ----------------------------------------------------------------------
def test_a_non_numeric_id_is_not_found(app, org):
    client = client_for(app, "admin")
    for url in ("/admin/sops/edit/?id=abc", "/admin/customers/details/?id=abc",
                "/admin/customers/edit/?id=1x"):
        assert client.get(url).status_code == 404, url


@pytest.mark.parametrize("role", ["sales", "service", "manager", "ops"])
def test_owner_lookup_is_only_for_users_who_may_fill_the_form(app, org, role):
    staff, _ = org
    client = client_for(app, role, staff["boss"] if role == "manager" else staff["zhang"])
    resp = client.get("/admin/customers/ajax/lookup/?name=owner&query=")
    assert resp.status_code == 403
    assert "wang" not in resp.get_data(as_text=True)


def test_admin_owner_lookup_lists_employees(app, org):
    client = client_for(app, "admin")
    resp = client.get("/admin/customers/ajax/lookup/?name=owner&query=wa")
    assert resp.status_code == 200
    assert [name for _, name in resp.get_json()] == ["Wang (wang)"]


def test_service_sees_no_tier_in_list_details_or_filters(app, org):
    _, customers = org
    with acting_as("test"):
        customers["li"].tier = "high"
        db.session.commit()
    view = admin_view(app, "customers")
    tier_filter = next(i for i, f in enumerate(view._filters) if f.column is Customer.tier)
    client = client_for(app, "service")
    listing = client.get("/admin/customers/").get_data(as_text=True)
    details = client.get(f"/admin/customers/details/?id={customers['li'].id}")
    for page in (listing, details.get_data(as_text=True)):
        assert "Tier" not in page and "High" not in page and "col-tier" not in page
    filtered = client.get(f"/admin/customers/?flt0_{tier_filter}=high")
    assert rows(filtered.get_data(as_text=True)) == {"ext-zhang", "ext-li", "ext-wang"}
    admin = client_for(app, "admin")
    assert rows(admin.get(f"/admin/customers/?flt0_{tier_filter}=high")
                .get_data(as_text=True)) == {"ext-li"}


CUSTOMER_FORM = {"external_id": "ext-li", "name": "Customer of li",
                 "customer_type": "individual", "churn_status": "normal",
                 "annual_value": "123456.78", "review_status": "activated"}


def test_rejecting_a_customer_needs_a_reason(app, org):
    from tests.conftest import post_form
    from tests.test_admin_support import field_errors

    _, customers = org
    client = client_for(app, "admin")
    url = f"/admin/customers/edit/?id={customers['li'].id}"
    resp = post_form(client, url, CUSTOMER_FORM | {"review_status": "rejected",
                                                   "review_reason": "  "})
    assert field_errors(resp.get_data(as_text=True), "review_reason") == [
        "Say why the customer is rejected."]
    db.session.expire_all()
    assert customers["li"].review_status == "pending"
    ok = post_form(client, url, CUSTOMER_FORM | {"review_status": "rejected",
                                                 "review_reason": "duplicate"})
    assert ok.status_code == 302
    db.session.expire_all()
    assert (customers["li"].review_status, customers["li"].review_reason) == (
        "rejected", "duplicate")


def test_tier_is_derived_from_annual_value_with_the_settings_thresholds(app, org):
    from models import Settings
    from tests.conftest import post_form

    _, customers = org
    with acting_as("test"):
        settings = Settings.get(db.session)
        settings.tier_high_threshold, settings.tier_potential_threshold = 200_000, 50_000
        db.session.commit()
    client = client_for(app, "admin")
    url = f"/admin/customers/edit/?id={customers['li'].id}"
    assert 'name="tier"' not in client.get(url).get_data(as_text=True)
    for value, tier in (("250000", "high"), ("60000", "potential"), ("10", "normal")):
        resp = post_form(client, url, CUSTOMER_FORM | {"annual_value": value, "tier": "high"})
        assert resp.status_code == 302
        db.session.expire_all()
        assert customers["li"].tier == tier, value


@pytest.mark.parametrize("owner", ["99999", "abc"])
def test_an_unknown_owner_id_is_refused_not_saved_blank(app, org, owner):
    from tests.conftest import post_form
    from tests.test_admin_support import field_errors

    staff, customers = org
    client = client_for(app, "admin")
    url = f"/admin/customers/edit/?id={customers['li'].id}"
    resp = post_form(client, url, CUSTOMER_FORM | {"owner": owner})
    assert field_errors(resp.get_data(as_text=True), "owner") == ["Not a valid choice"]
    db.session.expire_all()
    assert customers["li"].owner_id == staff["li"].id


def test_list_and_details_show_local_minutes_and_shortened_external_ids(app, org):
    from datetime import datetime, timezone

    _, customers = org
    long_id = "wmZx8aBcDeFgHiJkLmNoPqRsTuVwXyZ0"
    with acting_as("test"):  # 16:30 UTC is 00:30 the next day in Shanghai
        customers["li"].added_at = datetime(2025, 3, 1, 16, 30, tzinfo=timezone.utc)
        customers["li"].external_id = long_id
        db.session.commit()
    client = client_for(app, "admin")
    listing = parse(client.get("/admin/customers/").get_data(as_text=True))
    row = next(tr for tr in listing.walk() if tr.tag == "tr" and "2025-03-02 00:30" in
               tr.all_text())
    cell = next(td for td in row.walk() if "col-external_id" in td.classes)
    assert cell.all_text().strip() == "wmZx8a…XyZ0"
    assert any(n.attrs.get("title") == long_id for n in cell.walk())
    name = next(td for td in row.walk() if "col-name" in td.classes)
    assert any("one-line" in n.classes and n.attrs.get("title") == "Customer of li"
               for n in name.walk())
    details = client.get(f"/admin/customers/details/?id={customers['li'].id}")
    html = details.get_data(as_text=True)
    assert "2025-03-02 00:30" in html and long_id in html and "+00:00" not in html


def test_admin_edits_and_bulk_tags_write_the_change_journal(app, org):
    """The tick hears about hand-made changes as it hears about events (DESIGN step 1)."""
    from models import ChangeJournal, Settings
    from tests.conftest import post_form

    staff, customers = org
    li = customers["li"]
    with acting_as("test"):
        Settings.get(db.session).lifecycle_stages = ["潜在", "付费"]
        db.session.commit()
    client = client_for(app, "admin")
    url = f"/admin/customers/edit/?id={li.id}"
    resp = post_form(client, url, CUSTOMER_FORM | {
        "lifecycle_stage": "付费", "churn_status": "dormant", "owner": str(staff["zhang"].id)})
    assert resp.status_code == 302
    rows = {r.kind: r for r in db.session.scalars(
        select(ChangeJournal).where(ChangeJournal.customer_id == li.id))}
    assert set(rows) == {"updated", "stage", "owner"}
    assert all(r.source == "admin" and r.processed_at is None for r in rows.values())
    assert rows["updated"].detail == {  # the tier follows the value on every save
        "churn_status": {"from": "normal", "to": "dormant"},
        "tier": {"from": "normal", "to": "potential"}}
    assert rows["stage"].detail == {"from": None, "to": "付费"}
    assert rows["owner"].detail == {"from": "li", "to": "zhang"}

    # saving the same values again changes nothing, so journals nothing
    before = db.session.scalar(select(func.count(ChangeJournal.id)))
    post_form(client, url, CUSTOMER_FORM | {
        "lifecycle_stage": "付费", "churn_status": "dormant", "owner": str(staff["zhang"].id)})
    assert db.session.scalar(select(func.count(ChangeJournal.id))) == before

    run_tag_action(client, "add_tag", [li.id], "vip")
    tagged = db.session.scalar(select(ChangeJournal).where(ChangeJournal.kind == "tags"))
    assert (tagged.customer_id, tagged.detail, tagged.source) == (
        li.id, {"added": ["vip"], "removed": []}, "admin")
