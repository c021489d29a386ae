"""The follow-up review lists (SPEC §6) and their row rules (SPEC §7): follow-up
records, dormant customers (with the CSV of the quarterly review) and prospects with
too few follow-ups. Expected rows are worked out by hand from each fixture."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from models import Customer, FollowUp, Settings, db
from models.base import utcnow
from tests.conftest import make_employee, make_user
from tests.test_admin_support import menu_links, parse, signed_in

SHANGHAI = ZoneInfo("Asia/Shanghai")
EAST, SOUTH = "华东销售", "华南销售"


def cells(html: str, column: str) -> list[str]:
    return [" ".join(c.all_text().split()) for c in parse(html).walk()
            if c.tag == "td" and f"col-{column}" in c.classes]


def html_of(resp) -> str:
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


@pytest.fixture
def staff():
    """zhangsan, wangwu (华东销售, boss manages it), lisi (华南销售); a service user and
    a finance user not linked to anyone."""
    people = {userid: make_employee(userid, department=dep) for userid, dep in (
        ("zhangsan", EAST), ("wangwu", EAST), ("lisi", SOUTH))}
    people["boss"] = make_employee("boss", department=EAST, role="manager")
    db.session.commit()
    make_user("admin", "admin")
    make_user("ops", "ops")
    make_user("zhang", "sales", people["zhangsan"])
    make_user("li", "sales", people["lisi"])
    make_user("boss", "manager", people["boss"])
    make_user("svc", "service")
    make_user("money", "finance")
    return people


def customer(external_id: str, owner, **fields) -> Customer:
    row = Customer(external_id=external_id, name=f"客户{external_id}", owner_id=owner.id,
                   **fields)
    db.session.add(row)
    db.session.flush()
    return row


# --- follow-up records -------------------------------------------------------------------
@pytest.fixture
def records(staff):
    """a1 is zhangsan's, a2 wangwu's, b1 lisi's. Records (key points = name), newest last:
    f1 zhangsan on a1, f2 lisi on a1, f3 wangwu on a2, f4 lisi on b1 (lost),
    f5 zhangsan on b1."""
    a1, a2, b1 = (customer("a1", staff["zhangsan"]), customer("a2", staff["wangwu"]),
                  customer("b1", staff["lisi"]))
    start = datetime(2025, 3, 3, 2, tzinfo=timezone.utc)
    for n, (who, row, method, outcome) in enumerate((
            ("zhangsan", a1, "phone", "none"), ("lisi", a1, "visit", "opportunity"),
            ("wangwu", a2, "wecom", "nurture"), ("lisi", b1, "email", "lost"),
            ("zhangsan", b1, "online_meeting", "none")), start=1):
        db.session.add(FollowUp(customer_id=row.id, employee_id=staff[who].id, method=method,
                                at=start + timedelta(days=n), key_points=f"f{n}",
                                outcome=outcome,
                                lost_reason="预算不足" if outcome == "lost" else None))
    db.session.commit()


def record_names(client, query: str = "") -> list[str]:
    return cells(html_of(client.get("/admin/followups/" + query)), "key_points")


def test_followup_records_newest_first_with_labels(app, records):
    admin = signed_in(app, "admin")
    html = html_of(admin.get("/admin/followups/"))
    assert cells(html, "key_points") == ["f5", "f4", "f3", "f2", "f1"]
    assert cells(html, "method") == ["Online meeting", "Email", "WeCom", "Visit", "Phone"]
    assert cells(html, "outcome") == ["No change", "Lost", "To nurture", "Opportunity",
                                      "No change"]
    assert cells(html, "at")[-1] == "2025-03-04 10:00"  # f1 at 02:00 UTC, shown in Shanghai
    # filters: method (0), outcome (1), local days (2), employee (3)
    assert record_names(admin, "?flt0_1=lost") == ["f4"]
    assert record_names(admin, "?flt0_0=visit") == ["f2"]
    assert record_names(admin, "?flt0_2=2025-03-05+to+2025-03-06") == ["f3", "f2"]
    lisi = db.session.scalar(select(Customer.owner_id).where(Customer.external_id == "b1"))
    assert record_names(admin, f"?flt0_3={lisi}") == ["f4", "f2"]
    # read-only
    assert "/admin/followups/new/" not in html and "/admin/followups/edit/" not in html
    assert admin.get("/admin/followups/new/").status_code in (302, 403)


def test_followup_records_follow_the_role(app, records):
    # sales: records about their own customers, and those they logged themselves
    assert record_names(signed_in(app, "zhang")) == ["f5", "f2", "f1"]
    assert record_names(signed_in(app, "li")) == ["f5", "f4", "f2"]
    # the manager of 华东: about a1 and a2, and f5 logged by zhangsan
    assert record_names(signed_in(app, "boss")) == ["f5", "f3", "f2", "f1"]
    # service reads the records of the customers they may see (all); ops all
    assert record_names(signed_in(app, "svc")) == ["f5", "f4", "f3", "f2", "f1"]
    assert record_names(signed_in(app, "ops")) == ["f5", "f4", "f3", "f2", "f1"]
    money = signed_in(app, "money")
    assert money.get("/admin/followups/").status_code == 403
    assert "/admin/followups/" not in menu_links(html_of(money.get("/admin/")))


def test_a_record_out_of_scope_is_not_found(app, records):
    f4 = db.session.scalar(select(FollowUp.id).where(FollowUp.key_points == "f4"))
    zhang = signed_in(app, "zhang")
    assert zhang.get(f"/admin/followups/details/?id={f4}").status_code == 404
    details = html_of(signed_in(app, "li").get(f"/admin/followups/details/?id={f4}"))
    assert "预算不足" in details and "Email" in details


# --- dormant customers --------------------------------------------------------------------
@pytest.fixture
def dormant(staff):
    """Dormant: d1 (zhangsan's, since 2025-01-10), d2 (lisi's, since 2025-02-01), d4
    (zhangsan's, since 2024-12-01). d3 (wangwu's) is normal."""
    since = {"d1": datetime(2025, 1, 10, 1, tzinfo=timezone.utc),
             "d2": datetime(2025, 2, 1, 1, tzinfo=timezone.utc),
             "d4": datetime(2024, 12, 1, 1, tzinfo=timezone.utc)}
    for external_id, owner in (("d1", "zhangsan"), ("d2", "lisi"), ("d3", "wangwu"),
                               ("d4", "zhangsan")):
        customer(external_id, staff[owner],
                 churn_status="dormant" if external_id in since else "normal",
                 dormant_since=since.get(external_id),
                 last_interaction_at=datetime(2024, 6, 1, 8, tzinfo=timezone.utc))
    db.session.commit()


def dormant_ids(client) -> list[str]:
    return cells(html_of(client.get("/admin/dormant_customers/")), "external_id")


def test_dormant_customers_longest_asleep_first_by_role(app, dormant):
    assert dormant_ids(signed_in(app, "admin")) == ["d4", "d1", "d2"]
    assert dormant_ids(signed_in(app, "svc")) == ["d4", "d1", "d2"]
    assert dormant_ids(signed_in(app, "zhang")) == ["d4", "d1"]
    assert dormant_ids(signed_in(app, "li")) == ["d2"]
    assert dormant_ids(signed_in(app, "boss")) == ["d4", "d1"]  # d3 is wangwu's, not dormant
    assert signed_in(app, "money").get("/admin/dormant_customers/").status_code == 403
    html = html_of(signed_in(app, "admin").get("/admin/dormant_customers/"))
    assert "/admin/dormant_customers/export/csv/" in html  # the export button
    assert cells(html, "dormant_since") == ["2024-12-01 09:00", "2025-01-10 09:00",
                                            "2025-02-01 09:00"]


def read_csv(resp) -> list[list[str]]:
    assert resp.status_code == 200, resp.status_code
    assert resp.headers["Content-Type"].startswith("text/csv")
    body = resp.get_data()
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_dormant_customers_csv(app, dormant):
    rows = read_csv(signed_in(app, "admin").get("/admin/dormant_customers/export/csv/"))
    assert rows[0] == ["Name", "External ID", "Owner", "Lifecycle stage", "Dormant since",
                       "Last interaction", "Last follow-up"]
    assert rows[1:] == [
        ["客户d4", "d4", "Zhangsan (zhangsan)", "", "2024-12-01 09:00", "2024-06-01 16:00", ""],
        ["客户d1", "d1", "Zhangsan (zhangsan)", "", "2025-01-10 09:00", "2024-06-01 16:00", ""],
        ["客户d2", "d2", "Lisi (lisi)", "", "2025-02-01 09:00", "2024-06-01 16:00", ""]]
    mine = read_csv(signed_in(app, "li").get("/admin/dormant_customers/export/csv/"))
    assert [r[1] for r in mine[1:]] == ["d2"]


# --- prospects with too few follow-ups -----------------------------------------------------
@pytest.fixture
def prospects(staff):
    """Prospects (stage 潜在, the first default stage), 2 follow-ups in 14 days required:
    p1 zhangsan's, added 30 days ago, 2 in the window (3 and 10 days ago): fine;
    p2 zhangsan's, added 30 days ago, 1 in the window (2 days ago), 1 before it (20): listed, 1;
    p3 lisi's, added 5 days ago, none: not yet a full window, not listed;
    p4 lisi's, added 60 days ago, none: listed, 0;
    p5 zhangsan's, stage 新客户, added 60 days ago, none: not a prospect."""
    now = utcnow()
    rows = {}
    for external_id, owner, stage, added_days in (
            ("p1", "zhangsan", "潜在", 30), ("p2", "zhangsan", "潜在", 30),
            ("p3", "lisi", "潜在", 5), ("p4", "lisi", "潜在", 60),
            ("p5", "zhangsan", "新客户", 60)):
        rows[external_id] = customer(external_id, staff[owner], lifecycle_stage=stage,
                                     added_at=now - timedelta(days=added_days))
    for external_id, days_ago in (("p1", 3), ("p1", 10), ("p2", 2), ("p2", 20)):
        db.session.add(FollowUp(customer_id=rows[external_id].id,
                                employee_id=staff["zhangsan"].id, method="phone",
                                at=now - timedelta(days=days_ago), key_points="跟进"))
    Settings.get(db.session)
    db.session.commit()


def violations(client) -> list[tuple[str, str]]:
    html = html_of(client.get("/admin/prospect_violations/"))
    rows = [n for n in parse(html).walk() if n.tag == "tr" and "data-customer" in n.attrs]
    return [(r.attrs["data-customer"],
             next(c for c in r.walk() if "col-followups" in c.classes).all_text().strip())
            for r in rows]


def test_prospect_violations_by_hand(app, prospects):
    admin = signed_in(app, "admin")
    assert violations(admin) == [("p4", "0"), ("p2", "1")]  # fewest follow-ups first
    assert violations(signed_in(app, "zhang")) == [("p2", "1")]
    assert violations(signed_in(app, "li")) == [("p4", "0")]
    assert violations(signed_in(app, "boss")) == [("p2", "1")]
    assert violations(signed_in(app, "svc")) == [("p4", "0"), ("p2", "1")]
    assert signed_in(app, "money").get("/admin/prospect_violations/").status_code == 403
    # the threshold is read from the settings: with 3 required, p1 (2) is listed too
    Settings.get(db.session).prospect_min_followups = 3
    db.session.commit()
    assert violations(admin) == [("p4", "0"), ("p2", "1"), ("p1", "2")]


def test_no_violation_says_so(app, staff):
    html = html_of(signed_in(app, "admin").get("/admin/prospect_violations/"))
    assert "No prospect lacks follow-ups." in html
