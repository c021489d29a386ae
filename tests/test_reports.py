"""The monthly follow-up report (SPEC §6) and who sees which rows of it (SPEC §7).

A fixed data set; every expected figure below is counted by hand from it.
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from jobs.reports import month_bounds, monthly_followups
from models import Customer, FollowUp, db
from tests.conftest import make_employee, make_user
from tests.test_admin_support import parse, signed_in

SHANGHAI = ZoneInfo("Asia/Shanghai")
EAST, SOUTH, KEY = "华东销售", "华南销售", "大客户部"
URL = "/admin/followup_report/"


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(timezone.utc)


# (employee, customer, local time, method, outcome, lost reason)
RECORDS = [
    ("zhangsan", "c1", (2025, 3, 3, 10, 0), "phone", "none", None),           # 1
    ("zhangsan", "c1", (2025, 3, 10, 10, 0), "visit", "opportunity", None),   # 2
    ("zhangsan", "c2", (2025, 3, 12, 15, 0), "wecom", "lost", "价格太高"),      # 3
    ("wangwu", "c3", (2025, 3, 5, 9, 0), "phone", "nurture", None),           # 4
    ("wangwu", "c1", (2025, 3, 20, 11, 0), "online_meeting", "opportunity", None),  # 5
    ("lisi", "c4", (2025, 3, 31, 23, 30), "phone", "lost", " 选择了竞品 "),      # 6: 15:30 UTC
    ("lisi", "c5", (2025, 3, 15, 14, 0), "email", "nurture", None),           # 7
    ("zhaoliu", "c6", (2025, 3, 1, 0, 0), "phone", "lost", "价格太高"),         # 8: Feb 28 UTC
    ("zhaoliu", "c7", (2025, 3, 18, 16, 0), "visit", "none", None),           # 9
    ("lisi", "c5", (2025, 4, 1, 0, 10), "phone", "opportunity", None),        # 10: April
    ("zhangsan", "c2", (2025, 2, 28, 23, 50), "phone", "none", None),         # 11: February
    ("wangwu", "c3", (2025, 4, 8, 10, 0), "wecom", "lost", "暂无预算"),          # 12: April
]
OWNERS = {"c1": "zhangsan", "c2": "zhangsan", "c3": "wangwu", "c4": "lisi", "c5": "lisi",
          "c6": "zhaoliu", "c7": "zhaoliu"}

# March 2025 by hand (records 1-9; 6 is on the last local day, 8 at the first local
# instant; 10 is 00:10 on April 1st local, so April). Columns: follow-ups, customers,
# opportunities, to nurture, lost (the last three: distinct customers).
#   zhangsan 1,2,3: 3 records, {c1,c2}, opp {c1}, -, lost {c2}        -> 3 2 1 0 1
#   wangwu   4,5:   2 records, {c3,c1}, opp {c1}, nurture {c3}        -> 2 2 1 1 0
#   lisi     6,7:   2 records, {c4,c5}, nurture {c5}, lost {c4}       -> 2 2 0 1 1
#   qianqi   none (an active sales employee: listed with zeros)       -> 0 0 0 0 0
#   zhaoliu  8,9:   2 records, {c6,c7}, lost {c6}                     -> 2 2 0 0 1
#   boss     a manager who logged nothing: not listed
MARCH = [  # sorted by department name (华东 < 华南 < 大, by code point), then name
    [EAST, "Wangwu", "2", "2", "1", "1", "0"],
    [EAST, "Zhangsan", "3", "2", "1", "0", "1"],
    [SOUTH, "Lisi", "2", "2", "0", "1", "1"],
    [SOUTH, "Qianqi", "0", "0", "0", "0", "0"],
    [KEY, "Zhaoliu", "2", "2", "0", "0", "1"],
]
# Departments: 华东 = records 1-5, customers {c1,c2,c3} (c1, followed by both, once),
# opportunities {c1} once; 华南 = 6,7; 大客户部 = 8,9. Columns: employees listed, then
# the five figures.
MARCH_TEAMS = [
    [EAST, "2", "5", "3", "1", "1", "1"],
    [SOUTH, "2", "2", "2", "0", "1", "1"],
    [KEY, "1", "2", "2", "0", "0", "1"],
]
MARCH_REASONS = [  # lost reasons (trimmed), customers lost for each
    [EAST, "Zhangsan", "价格太高", "1"],
    [SOUTH, "Lisi", "选择了竞品", "1"],
    [KEY, "Zhaoliu", "价格太高", "1"],
]


@pytest.fixture
def data():
    people = {}
    for userid, dep, role in (("zhangsan", EAST, "sales"), ("wangwu", EAST, "sales"),
                              ("boss", EAST, "manager"), ("lisi", SOUTH, "sales"),
                              ("qianqi", SOUTH, "sales"), ("zhaoliu", KEY, "sales")):
        people[userid] = make_employee(userid, department=dep, role=role)
    customers = {}
    for external_id, owner in OWNERS.items():
        customers[external_id] = Customer(external_id=external_id, name=f"客户{external_id}",
                                          owner_id=people[owner].id)
        db.session.add(customers[external_id])
    db.session.flush()
    for userid, external_id, at, method, outcome, reason in RECORDS:
        db.session.add(FollowUp(customer_id=customers[external_id].id,
                                employee_id=people[userid].id, at=local(*at), method=method,
                                key_points="谈了续约", outcome=outcome, lost_reason=reason))
    db.session.commit()
    make_user("admin", "admin")
    make_user("ops", "ops")
    make_user("boss", "manager", people["boss"])
    make_user("zhang", "sales", people["zhangsan"])
    make_user("nobody", "sales")  # not linked to an employee
    make_user("svc", "service")
    make_user("money", "finance")
    return people


def table(html: str, css: str) -> list[list[str]]:
    """The body rows of the table with class `css`, as cell texts."""
    found = [n for n in parse(html).walk() if n.tag == "table" and css in n.classes]
    if not found:
        return []
    return [[" ".join(td.all_text().split()) for td in tr.children if td.tag == "td"]
            for tbody in found[0].children if tbody.tag == "tbody"
            for tr in tbody.children if tr.tag == "tr"]


def page(client, query: str = "?month=2025-03") -> str:
    resp = client.get(URL + query)
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


# --- the service ---------------------------------------------------------------------
def test_month_bounds_are_local_midnights():
    assert month_bounds(date(2025, 3, 1), SHANGHAI) == (
        datetime(2025, 2, 28, 16, tzinfo=timezone.utc),
        datetime(2025, 3, 31, 16, tzinfo=timezone.utc))
    assert month_bounds(date(2025, 12, 1), SHANGHAI)[1] == datetime(2025, 12, 31, 16,
                                                                    tzinfo=timezone.utc)


def test_monthly_summary_per_employee_and_department(data):
    report = monthly_followups(db.session, date(2025, 3, 1), SHANGHAI)
    assert [[r.department, r.employee, *map(str, (r.followups, r.customers, r.opportunities,
                                                  r.nurture, r.lost))]
            for r in report.employees] == MARCH
    assert [[d.department, *map(str, (d.employees, d.followups, d.customers, d.opportunities,
                                      d.nurture, d.lost))]
            for d in report.departments] == MARCH_TEAMS
    assert [[r.department, r.employee, r.reason, str(r.customers)]
            for r in report.reasons] == MARCH_REASONS
    # customers counted once over everything: c1..c7; nurture {c3,c5}; lost {c2,c4,c6}
    assert (report.total.followups, report.total.customers, report.total.opportunities,
            report.total.nurture, report.total.lost) == (9, 7, 1, 2, 3)


def test_the_neighbouring_months(data):
    april = monthly_followups(db.session, date(2025, 4, 1), SHANGHAI)
    # April: record 10 (lisi, c5, opportunity) and 12 (wangwu, c3, lost 暂无预算)
    figures = {r.employee: (r.followups, r.customers, r.opportunities, r.nurture, r.lost)
               for r in april.employees}
    assert figures == {"Lisi": (1, 1, 1, 0, 0), "Wangwu": (1, 1, 0, 0, 1),
                       "Zhangsan": (0, 0, 0, 0, 0), "Qianqi": (0, 0, 0, 0, 0),
                       "Zhaoliu": (0, 0, 0, 0, 0)}
    assert [(r.employee, r.reason) for r in april.reasons] == [("Wangwu", "暂无预算")]
    february = monthly_followups(db.session, date(2025, 2, 1), SHANGHAI)
    assert february.total.followups == 1  # record 11 (23:50 local on the 28th); not 8
    empty = monthly_followups(db.session, date(2025, 5, 1), SHANGHAI)
    assert empty.empty and empty.reasons == []


def test_the_filters_of_the_service(data):
    east = monthly_followups(db.session, date(2025, 3, 1), SHANGHAI,
                             department_id=data["zhangsan"].department_id)
    assert [r.employee for r in east.employees] == ["Wangwu", "Zhangsan"]
    assert [d.department for d in east.departments] == [EAST]
    one = monthly_followups(db.session, date(2025, 3, 1), SHANGHAI,
                            employee_id=data["lisi"].id)
    assert [(r.employee, r.followups, r.lost) for r in one.employees] == [("Lisi", 2, 1)]
    assert [r.reason for r in one.reasons] == ["选择了竞品"]


# --- the screen --------------------------------------------------------------------------
def test_admin_and_ops_see_everyone(app, data):
    for username in ("admin", "ops"):
        html = page(signed_in(app, username))
        assert table(html, "report-employees") == MARCH
        assert table(html, "report-departments") == MARCH_TEAMS
        assert table(html, "report-reasons") == MARCH_REASONS


def test_a_manager_sees_their_department_only(app, data):
    html = page(signed_in(app, "boss"))
    assert table(html, "report-employees") == MARCH[:2]
    assert table(html, "report-departments") == MARCH_TEAMS[:1]
    assert table(html, "report-reasons") == MARCH_REASONS[:1]


def test_sales_see_their_own_row_only(app, data):
    html = page(signed_in(app, "zhang"))
    assert table(html, "report-employees") == [MARCH[1]]
    assert table(html, "report-departments") == []  # no team figures
    assert table(html, "report-reasons") == MARCH_REASONS[:1]
    rows = table(page(signed_in(app, "nobody")), "report-employees")
    assert rows == [["No employee to show."]]


def test_service_and_finance_may_not_open_it(app, data):
    for username in ("svc", "money"):
        client = signed_in(app, username)
        assert client.get(URL + "?month=2025-03").status_code == 403
        assert client.get(URL + "export.csv?month=2025-03").status_code == 403
        assert "/admin/followup_report/" not in client.get("/admin/").get_data(as_text=True)
    assert "/admin/followup_report/" in signed_in(app, "boss").get("/admin/").get_data(
        as_text=True)


def test_an_empty_month_says_so(app, data):
    html = page(signed_in(app, "admin"), "?month=2024-11")
    assert "No follow-ups were logged in 2024-11." in html
    assert table(html, "report-reasons") == [["No customer was lost this month."]]


def test_the_month_defaults_to_the_current_one(app, data):
    html = page(signed_in(app, "admin"), "")
    this_month = datetime.now(SHANGHAI).strftime("%Y-%m")
    [field] = [n for n in parse(html).walk() if n.attrs.get("id") == "month"]
    assert field.attrs["value"] == this_month


@pytest.mark.parametrize("bad", ["2025-13", "2025-00", "25-03", "2025-3", "march", "1999-12",
                                 "2025-03-01"])
def test_a_bad_month_is_refused_with_a_clear_message(app, data, bad):
    client = signed_in(app, "admin")
    resp = client.get(URL, query_string={"month": bad})
    assert resp.status_code == 400
    [problem] = [n for n in parse(resp.get_data(as_text=True)).walk()
                 if "report-problem" in n.classes]
    assert f"Month {bad} is not valid: write it as year-month, e.g. 2025-03" in \
        problem.all_text()
    export = client.get(URL + "export.csv", query_string={"month": bad})
    assert export.status_code == 400 and "year-month" in export.get_data(as_text=True)


# --- CSV ---------------------------------------------------------------------------------
def read_csv(resp) -> list[list[str]]:
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert "followups-2025-03.csv" in resp.headers["Content-Disposition"]
    body = resp.get_data()
    assert body.startswith("\ufeff".encode())  # the BOM: Excel reads it as UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


HEADER = ["Department", "Employee", "WeCom user ID", "Follow-ups", "Customers followed",
          "Opportunities", "To nurture", "Lost"]


def test_csv_export_of_the_employee_rows(app, data):
    rows = read_csv(signed_in(app, "admin").get(URL + "export.csv?month=2025-03"))
    assert rows[0] == HEADER
    by_hand = [[dep, name, name.lower(), *figures] for dep, name, *figures in MARCH]
    assert rows[1:] == by_hand


def test_csv_export_follows_the_role(app, data):
    boss = read_csv(signed_in(app, "boss").get(URL + "export.csv?month=2025-03"))
    assert [r[2] for r in boss[1:]] == ["wangwu", "zhangsan"]
    zhang = read_csv(signed_in(app, "zhang").get(URL + "export.csv?month=2025-03"))
    assert [r[2] for r in zhang[1:]] == ["zhangsan"]


def test_csv_cells_never_start_a_formula():
    from admin_views.csv_export import cell

    assert [cell(v) for v in ("=1+1", "+86 138", "-5", "@x", "张三", None, 3)] == [
        "'=1+1", "'+86 138", "'-5", "'@x", "张三", "", 3]


def test_csv_in_chinese_keeps_chinese_headers(app, data):
    from tests.test_admin_support import fresh_client
    from tests.conftest import login

    client = fresh_client(app)
    login(client, "admin")  # the default language is Chinese
    rows = read_csv(client.get(URL + "export.csv?month=2025-03"))
    assert rows[0][0] == "部门" and rows[1][:2] == [EAST, "Wangwu"]
