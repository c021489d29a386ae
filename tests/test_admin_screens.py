"""Which screens each role opens (the menu and 403 elsewhere), and that every screen's
pages render."""
from decimal import Decimal

import pytest
from sqlalchemy import select

from models import Order, db
from models.audit import acting_as
from tests.test_admin_support import admin_view, client_for, menu_links

SCREENS = {
    "sops": "/admin/sops/", "journeys": "/admin/journeys/",
    "sop_versions": "/admin/sop_versions/", "customers": "/admin/customers/",
    "orders": "/admin/orders/", "tags": "/admin/tags/", "segments": "/admin/segments/",
    "materials": "/admin/materials/", "departments": "/admin/departments/",
    "employees": "/admin/employees/", "users": "/admin/users/", "settings": "/admin/settings/",
    "audit_log": "/admin/audit_log/", "enrollments": "/admin/enrollments/",
    "deliveries": "/admin/deliveries/", "tasks": "/admin/tasks/", "inbox": "/admin/inbox/",
    "held_deliveries": "/admin/held_deliveries/", "send_batches": "/admin/send_batches/",
    "followups": "/admin/followups/", "dormant_customers": "/admin/dormant_customers/",
    "prospect_violations": "/admin/prospect_violations/",
    "followup_report": "/admin/followup_report/", "new_request": "/admin/new_request/",
    "sop_data": "/admin/sop_data/", "journey_data": "/admin/journey_data/",
    "quota_calendar": "/admin/quota_calendar/", "group_sends": "/admin/group_sends/",
    "wecom_callbacks": "/admin/wecom_callbacks/", "wecom_tag_writes": "/admin/wecom_tag_writes/",
    "work_calendar": "/admin/work_calendar/", "api_docs": "/admin/api_docs/",
}
FOLLOW_UP_LISTS = {"followups", "dormant_customers", "prospect_violations"}
MENU = {
    "admin": set(SCREENS),
    "ops": {"sops", "journeys", "sop_versions", "tags", "segments", "materials", "customers",
            "enrollments", "deliveries", "tasks", "inbox", "held_deliveries", "send_batches",
            "followup_report", "sop_data", "journey_data", "quota_calendar", "wecom_callbacks",
            "wecom_tag_writes", "work_calendar", "api_docs", "group_sends"} | FOLLOW_UP_LISTS,
    "manager": {"customers", "employees", "enrollments", "deliveries", "tasks", "inbox",
                "held_deliveries", "send_batches", "followup_report", "sop_data", "journey_data",
                "new_request", "api_docs", "group_sends"} | FOLLOW_UP_LISTS,
    "sales": {"customers", "tasks", "inbox", "followup_report", "new_request",
              "api_docs"} | FOLLOW_UP_LISTS,
    "service": {"customers", "tasks", "inbox", "new_request", "api_docs"} | FOLLOW_UP_LISTS,
    "finance": {"orders", "api_docs"},
}


@pytest.mark.parametrize("role", sorted(MENU))
def test_each_role_sees_only_its_menu_and_gets_403_elsewhere(app, role):
    client = client_for(app, role)
    html = client.get("/admin/").get_data(as_text=True)
    allowed = MENU[role]
    assert menu_links(html) == {"/admin/"} | {SCREENS[s] for s in allowed}
    for screen, url in SCREENS.items():
        status = client.get(url).status_code
        if screen in allowed:
            assert status in (200, 302), f"{role} cannot open {url}"
        else:
            assert status == 403, f"{role} opened {url} ({status})"


@pytest.mark.parametrize("screen", sorted(SCREENS))
def test_every_screen_renders_for_admin(app, org, screen):
    """List, create, details and edit pages render (no template or query errors)."""
    staff, customers = org
    with acting_as("test"):
        db.session.add(Order(order_id="o-1", customer=customers["li"], amount=Decimal("1")))
        for row in customers.values():  # whichever comes first is on every list
            row.churn_status = "dormant"
        db.session.commit()
    client = client_for(app, "admin")
    listing = client.get(SCREENS[screen], follow_redirects=True)
    assert listing.status_code == 200
    view = admin_view(app, screen)
    if getattr(view, "model", None) is None:
        return  # not a model screen (the inbox): its one page rendered above
    row = db.session.scalar(select(view.model).limit(1))
    urls = [f"{SCREENS[screen]}new/"]
    if row is not None:
        urls += [f"{SCREENS[screen]}details/?id={row.id}", f"{SCREENS[screen]}edit/?id={row.id}"]
    for url in urls:
        resp = client.get(url)
        assert resp.status_code in (200, 302), f"{url}: {resp.status_code}"
        if resp.status_code == 302:  # a screen without that page sends back to its list
            assert resp.location.split("?")[0].endswith(SCREENS[screen]), url
