"""The data screens over HTTP: the SOP data page, the journey data page, the quota
calendar, the dashboard, the CSV exports and `GET /api/v1/sops/<key>/stats`, on the
fixed data set of tests/data_support.py, for each role's scope."""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from models import ApiToken, Employee, Journey, db
from models.audit import acting_as
from tests.conftest import make_employee, make_user
from tests.data_support import build_dental, build_promo
from tests.test_admin_support import parse, signed_in


@pytest.fixture
def promo():
    data = build_promo()
    make_user("admin", "admin")
    make_user("boss", "manager", make_employee("boss", "华东销售", role="manager"))  # c1-c6
    make_user("zhang", "sales", db.session.scalar(
        select(Employee).where(Employee.userid == "zhangsan")))
    return data


def text_of(node) -> str:
    return " ".join(node.all_text().split())


def table(html: str, css: str) -> list[list[str]]:
    root = parse(html)
    found = next(n for n in root.walk() if n.tag == "table" and css in n.classes)
    return [[text_of(c) for c in tr.children if c.tag in ("td", "th")]
            for tr in found.walk() if tr.tag == "tr"]


def card_links(html: str) -> dict[str, tuple[str, str | None]]:
    """Each card's title -> (its number, its link)."""
    out = {}
    for body in parse(html).walk():
        if "card-body" in body.classes:
            divs = [c for c in body.children if c.tag == "div"]
            link = next((a.attrs["href"] for a in divs[1].walk() if a.tag == "a"), None)
            out[text_of(divs[0])] = (text_of(divs[1]), link)
    return out


def svgs(html: str) -> int:
    return sum(1 for n in parse(html).walk() if n.tag == "svg" and "data-chart" in n.classes)


def test_sop_data_page_shows_totals_funnel_conversion_and_customers(app, promo):
    admin = signed_in(app, "admin")
    page = admin.get(f"/admin/sop_data/{promo['sop'].id}/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert svgs(html) == 3  # funnel, sends per day, conversion per week; each with a table
    assert len([n for n in parse(html).walk() if "chart-table" in n.classes]) == 3
    funnel = table(html, "funnel-table")
    # step 1: 10 due; statuses in vocabulary order (pending, deferred, queued, sent, failed,
    # skipped, expired, cancelled), then the holdout among the skipped
    assert funnel[1] == ["Day 0 10:00 Message", "10", "1", "1", "1", "2", "1", "3", "1",
                         "0", "3"]
    conversion = table(html, "conversion-table")
    assert conversion[1][:4] == ["Everyone", "10", "3", "30.0 %"]
    assert conversion[2][:4] == ["Messaged", "7", "2", "28.6 %"]
    assert conversion[3][:4] == ["Holdout (never messaged)", "3", "1", "33.3 %"]
    assert "Lift over the holdout group: -4.8 points" in html  # 2/7 - 1/3 = -0.0476
    customers = table(html, "customers-table")
    assert len(customers) == 11 and customers[1][1].startswith("c10")
    # the manual end posts the picked enrollments to the SOP customers' action
    assert 'action="/admin/enrollments/action/"' in html and 'value="end_selected"' in html
    ended = admin.get(f"/admin/sop_data/{promo['sop'].id}/?status=ended_early")
    assert [r[1].split()[0] for r in table(ended.get_data(as_text=True), "customers-table")[1:]] \
        == ["c2"]


def test_the_manual_end_from_the_data_page_ends_the_picked_customers(app, promo):
    from tests.conftest import csrf_token_from

    admin = signed_in(app, "admin")
    url = f"/admin/sop_data/{promo['sop'].id}/"
    html = admin.get(url).get_data(as_text=True)
    c4 = next(n.attrs["value"] for n in parse(html).walk()
              if n.tag == "input" and n.attrs.get("name") == "rowid")  # the newest active: c9
    step = admin.post("/admin/enrollments/action/", data={
        "csrf_token": csrf_token_from(html), "action": "end_selected", "rowid": [c4],
        "url": url})
    form = step.get_data(as_text=True)
    assert step.status_code == 200 and "flow_to" in form  # asks for tags and a flow
    done = admin.post("/admin/enrollments/end/", data={
        "csrf_token": csrf_token_from(form), "ids": c4, "url": url, "tags": "手动结束",
        "flow_to": ""})
    assert done.status_code == 302 and done.headers["Location"].endswith(url)
    cards = card_links(admin.get(url).get_data(as_text=True))
    assert cards["Ended by hand"][0] == "2"  # c3, and now c9


def test_manager_sees_the_department_and_sales_none(app, promo):
    boss = signed_in(app, "boss")
    html = boss.get(f"/admin/sop_data/{promo['sop'].id}/").get_data(as_text=True)
    assert table(html, "funnel-table")[1][1] == "6"  # c1-c6 only
    assert table(html, "conversion-table")[1][:3] == ["Everyone", "6", "2"]  # c1, c5
    assert "end-selected" not in html  # reads, does not end
    assert signed_in(app, "zhang").get(f"/admin/sop_data/{promo['sop'].id}/").status_code == 403
    assert boss.get("/admin/quota_calendar/").status_code == 403


def test_csv_exports(app, promo):
    admin = signed_in(app, "admin")
    sop_id = promo["sop"].id
    for name, first in (("funnel", ["1", "day 0 10:00 message", "10"]), ("sends", None),
                        ("weeks", ["2025-03-03", "6", "2"]), ("customers", ["wx-c10", "c10"])):
        response = admin.get(f"/admin/sop_data/{sop_id}/csv/{name}")
        assert response.status_code == 200 and response.mimetype == "text/csv"
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
        if first:
            assert rows[1][:len(first)] == first, (name, rows[:2])
    assert admin.get(f"/admin/sop_data/{sop_id}/csv/secrets").status_code == 404


def test_journey_data_page(app, promo):
    journey = build_dental(promo)
    admin = signed_in(app, "admin")
    html = admin.get(f"/admin/journey_data/{journey.id}/").get_data(as_text=True)
    assert svgs(html) == 1
    assert [r[1] for r in table(html, "stage-now")[1:]] == ["2", "1", "0"]
    # moves count the last 30 days before the real now: the 2025 set has none by then
    assert table(html, "moves-table")[1:] == [["No moves."]]
    people = table(html, "reminders-table")[1:]
    assert people == [["Lisi", "1", "1", "0", "0", "0.0 %"], ["Zhangsan", "4", "3", "2", "1",
                                                              "66.7 %"]]
    boss = signed_in(app, "boss")  # c1-c6: all four placed customers are theirs
    assert [r[1] for r in table(boss.get(f"/admin/journey_data/{journey.id}/")
                                .get_data(as_text=True), "stage-now")[1:]] == ["2", "1", "0"]
    assert admin.get("/admin/journey_data/").status_code == 200
    assert db.session.get(Journey, journey.id) is not None


def test_quota_calendar_page(app, promo):
    html = signed_in(app, "admin").get("/admin/quota_calendar/").get_data(as_text=True)
    assert svgs(html) == 1
    rows = table(html, "calendar-table")
    assert len(rows) == 1 + 29  # 14 days back, today, 14 ahead


def test_dashboard_cards_link_to_their_lists(app, promo):
    admin = signed_in(app, "admin")
    html = admin.get("/admin/").get_data(as_text=True)
    assert svgs(html) == 2  # sends per day and customers added per day
    cards = card_links(html)
    assert cards["Deferred by the quota"][0] == "1" and cards["Held deliveries"][0] == "0"
    cards = {title: link for title, (_, link) in cards.items()}
    deferred = admin.get(cards["Deferred by the quota"]).get_data(as_text=True)
    statuses = [text_of(c) for c in parse(deferred).walk()
                if c.tag == "td" and "col-status" in c.classes]
    assert statuses == ["Deferred"]  # c7's first message, the only deferred one
    running = admin.get(cards["Running SOPs"]).get_data(as_text=True)
    assert "promo" in running
    assert admin.get(cards["Overdue tasks"]).status_code == 200


def test_stats_api(app, client, promo):
    def bearer(username):
        user = db.session.scalar(select(ApiToken.user.property.mapper.class_)
                                 .where(ApiToken.user.property.mapper.class_.username == username))
        with acting_as("test"):
            row, plain = ApiToken.issue(user)
            db.session.add(row)
            db.session.commit()
        return {"Authorization": f"Bearer {plain}"}

    body = client.get("/api/v1/sops/promo/stats", headers=bearer("admin")).get_json()
    assert body["totals"]["entered"] == 10 and body["totals"]["holdout"] == 3
    assert body["funnel"][0]["due"] == 10 and body["funnel"][0]["holdout"] == 3
    conversion = body["conversion"]
    assert (conversion["messaged"]["converted"], conversion["messaged"]["entrants"]) == (2, 7)
    assert conversion["lift"]["difference"] == pytest.approx(2 / 7 - 1 / 3)
    assert [w["week"] for w in conversion["weeks"]] == ["2025-03-03", "2025-03-10"]
    east = client.get("/api/v1/sops/promo/stats", headers=bearer("boss")).get_json()
    assert east["totals"]["entered"] == 6
    assert client.get("/api/v1/sops/promo/stats", headers=bearer("zhang")).status_code == 403
    assert client.get("/api/v1/sops/nope/stats", headers=bearer("admin")).status_code == 404


def test_sop_customer_list_shows_the_last_step_reached(app, promo):
    admin = signed_in(app, "admin")
    html = admin.get(f"/admin/enrollments/?flt0_0={promo['sop'].id}&flt1_1=completed"
                     ).get_data(as_text=True)
    cells = [text_of(c) for c in parse(html).walk()
             if c.tag == "td" and "col-last_step" in c.classes]
    assert cells == ["Day 3 10:00 Task"]  # c1, the only completed one, reached its task
