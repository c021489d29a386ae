"""The inbox (open tasks by group, copyable text, customers, one-click Done), the held
deliveries list and the send batches list."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from models import AuditLog, Delivery, SendBatch, Settings, Task, db
from models.audit import acting_as
from models.base import utcnow
from tests.conftest import csrf_token_from, login, make_user
from tests.inbox_support import (
    DONE, INBOX, customer, hours, html_of, now_today, offer, plain_task, press_done, send_task,
    staff,
)

__all__ = ["offer", "staff"]  # fixtures used here
from tests.test_admin_support import fresh_client, menu_links, parse, signed_in

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_midnight(zone: ZoneInfo, days: int = 0) -> datetime:
    today = utcnow().astimezone(zone).date() + timedelta(days=days)
    return datetime.combine(today, time(), zone)


def cards(html: str) -> dict:
    """The task cards on the page by task id: their section, text and parts."""
    found = {}
    for section in parse(html).walk():
        if section.tag != "section" or "inbox-section" not in section.classes:
            continue
        for card in section.walk():
            if "inbox-task" not in card.classes:
                continue

            def first(cls, card=card):
                node = next((n for n in card.walk() if cls in n.classes), None)
                return node.all_text().strip() if node is not None else None

            form = next(n for n in card.walk() if n.tag == "form")
            fields = {n.attrs["name"]: n.attrs.get("value", "") for n in form.walk()
                      if n.tag == "input"}
            found[int(card.attrs["data-task-id"])] = {
                "section": section.attrs["id"], "kind": first("task-kind"),
                "title": first("task-title"), "text": first("task-text"),
                "assignee": first("task-assignee"), "deadline": first("task-deadline"),
                "customers": [tuple(part.all_text().strip() for part in n.walk()
                                    if part.classes & {"customer-name", "customer-id"})
                              for n in card.walk() if "task-customer" in n.classes],
                "more": first("task-more-customers"),
                "links": [(a.all_text().strip(), a.attrs["href"]) for a in card.walk()
                          if a.tag == "a" and a.parent.tag == "li"],
                "attachments": [" ".join(li.all_text().split()) for li in card.walk()
                                if li.tag == "li"],
                "form": (form.attrs.get("method"), form.attrs.get("action"), fields),
            }
    return found


def section_totals(html: str) -> dict[str, int]:
    return {s.attrs["id"]: int(next(n for n in s.walk() if "section-total" in n.classes)
                               .all_text())
            for s in parse(html).walk() if "inbox-section" in s.classes}


def flashes(html: str, kind: str) -> list[str]:
    return [n.all_text().strip().rstrip("×").strip() for n in parse(html).walk()
            if n.tag == "div" and f"alert-{kind}" in n.classes]


def statuses(task: Task) -> list[str]:
    db.session.expire_all()
    return sorted(db.session.scalars(select(Delivery.status).where(Delivery.task_id == task.id)))


def empty_state(html: str) -> bool:
    return any("inbox-empty" in n.classes for n in parse(html).walk())


# --- what the inbox shows ------------------------------------------------------------------
def test_the_inbox_shows_the_task_text_customers_attachments_and_a_csrf_done_form(app, offer):
    zhang = signed_in(app, "zhang")
    html = html_of(zhang.get(INBOX))
    card = cards(html)[offer.id]
    assert card["section"] == "today" and card["kind"] == "Send messages"
    assert card["title"] == "SOP care"
    assert card["text"] == "Spring offer:\n<b>20% off</b> for you"  # shown as text, escaped
    assert "<b>20% off</b>" not in html and "&lt;b&gt;20% off&lt;/b&gt;" in html
    assert card["customers"] == [("Name of wx-a", "wx-a"), ("Name of wx-b", "wx-b"),
                                 ("Name of wx-c", "wx-c")]
    assert card["more"] is None and card["assignee"] is None  # it is zhang's own task
    # attachments: a web link, a text snippet (copyable), a javascript: address not linked
    assert card["links"] == [("Title spring-page", "https://example.com/spring")]
    assert [a.split()[:2] for a in card["attachments"]] == [
        ["Title", "sneaky"], ["Title", "spring-page"], ["Title", "terms"]]
    snippet = next(n for n in parse(html).walk() if n.tag == "pre"
                   and n.attrs.get("id", "").startswith(f"material-{offer.id}-"))
    assert snippet.all_text() == "Valid until May."
    copy = [n.attrs["data-copy"] for n in parse(html).walk() if "copy-text" in n.classes]
    assert copy == [f"task-text-{offer.id}", snippet.attrs["id"]]
    method, action, fields = card["form"]
    assert (method, action, fields["id"]) == ("POST", DONE, str(offer.id))
    assert fields["csrf_token"] == csrf_token_from(html) and len(fields["csrf_token"]) > 20
    assert not empty_state(html)


def test_inbox_is_the_first_menu_entry_and_chinese_by_default(app, offer):
    client = fresh_client(app)
    login(client, "zhang")
    html = html_of(client.get("/admin/"))
    nav = next(n for n in parse(html).walk() if n.tag == "ul" and "navbar-nav" in n.classes)
    first = next(a for a in nav.walk() if a.tag == "a" and a.attrs.get("href", "")
                 .startswith("/admin/") and a.attrs["href"] != "/admin/")
    assert (first.attrs["href"], first.all_text().strip()) == (INBOX, "收件箱")
    inbox = html_of(client.get(INBOX))
    assert "今天" in inbox and "标记完成" in inbox and "复制" in inbox
    # finance has no tasks: no menu entry, and the page is refused
    make_user("money", "finance")
    money = signed_in(app, "money")
    assert INBOX not in menu_links(html_of(money.get("/admin/")))
    assert money.get(INBOX).status_code == 403


def test_groups_follow_the_enterprise_time_zone_and_deadlines(app, staff):
    with acting_as("test"):
        db.session.add(Settings(id=1, timezone="America/New_York"))
        db.session.commit()
    zone = ZoneInfo("America/New_York")
    zhang = staff["zhangsan"]
    midnight = local_midnight(zone)
    ids = {
        "yesterday, last minute": plain_task("a", midnight - timedelta(minutes=1), employee=zhang),
        "today, first minute": plain_task("b", midnight, employee=zhang),
        "today, deadline passed": plain_task("c", max(midnight, utcnow() - hours(1)),
                                             employee=zhang, deadline_at=utcnow() - hours(0.5)),
        "tomorrow": plain_task("d", local_midnight(zone, 1), employee=zhang),
        "in a week": plain_task("e", local_midnight(zone, 7), employee=zhang),
        "done already": plain_task("f", midnight, employee=zhang, status="done"),
    }
    html = html_of(signed_in(app, "zhang").get(INBOX))
    where = {name: cards(html).get(task.id, {}).get("section") for name, task in ids.items()}
    assert where == {"yesterday, last minute": "overdue", "today, first minute": "today",
                     "today, deadline passed": "overdue", "tomorrow": "upcoming",
                     "in a week": "upcoming", "done already": None}
    assert section_totals(html) == {"overdue": 2, "today": 1, "upcoming": 2}
    # upcoming comes soonest first; the deadline is shown in the enterprise zone
    assert [t for t, c in cards(html).items() if c["section"] == "upcoming"] == [
        ids["tomorrow"].id, ids["in a week"].id]
    late = cards(html)[ids["today, deadline passed"].id]["deadline"]
    assert late == "Deadline " + (utcnow() - hours(0.5)).astimezone(zone).strftime(
        "%Y-%m-%d %H:%M")


def test_the_overview_caps_each_group_and_a_group_view_pages_through_it(app, staff,
                                                                       monkeypatch):
    monkeypatch.setattr("admin_views.inbox.SECTION_CAP", 2)  # the overview: 2 cards a group
    monkeypatch.setattr("admin_views.inbox.PAGE_SIZE", 20)
    zhang = staff["zhangsan"]
    late = [plain_task(f"late {i}", utcnow() - timedelta(days=3 - i), employee=zhang)
            for i in range(3)]
    start = local_midnight(SHANGHAI, 2)
    upcoming = [plain_task(f"later {i:02d}", start + timedelta(minutes=i), employee=zhang)
                for i in range(23)]
    big = send_task(zhang, [f"wx-{i:02d}" for i in range(53)], now_today())
    client = signed_in(app, "zhang")

    first = html_of(client.get(INBOX))
    shown = cards(first)
    assert section_totals(first) == {"today": 1, "overdue": 3, "upcoming": 23}
    assert [t for t, c in shown.items() if c["section"] == "upcoming"] == [
        t.id for t in upcoming[:2]]
    assert [t for t, c in shown.items() if c["section"] == "overdue"] == [
        t.id for t in late[:2]]  # the oldest first, the rest counted and linked
    hidden = {n.parent.attrs["id"]: " ".join(n.all_text().split())
              for n in parse(first).walk() if "section-hidden" in n.classes}
    assert hidden == {"overdue": "1 more task is not shown here. See all 3 →",
                      "upcoming": "21 more tasks are not shown here. See all 23 →"}
    # 50 customers listed, in delivery order, then the rest counted
    assert len(shown[big.id]["customers"]) == 50
    assert shown[big.id]["customers"][:2] == [("Name of wx-00", "wx-00"),
                                              ("Name of wx-01", "wx-01")]
    assert shown[big.id]["more"] == "and 3 more"

    page_one = html_of(client.get(INBOX + "?group=upcoming"))
    assert list(section_totals(page_one)) == ["upcoming"]  # the group alone
    assert [t for t in cards(page_one)] == [t.id for t in upcoming[:20]]
    assert "Page 1 of 2" in page_one
    second = html_of(client.get(INBOX + "?group=upcoming&page=1"))
    assert [t for t in cards(second)] == [t.id for t in upcoming[20:]]
    assert "Page 2 of 2" in second
    # a page past the end shows the last one; nonsense is the first
    assert "Page 2 of 2" in html_of(client.get(INBOX + "?group=upcoming&page=99"))
    assert "Page 1 of 2" in html_of(client.get(INBOX + "?group=upcoming&page=-1"))


def test_overdue_splits_by_age_and_the_group_counts_stay_on_every_view(app, staff):
    zhang = staff["zhangsan"]
    midnight = local_midnight(SHANGHAI)
    ages = {"recent": plain_task("yesterday", midnight - timedelta(hours=2), employee=zhang),
            "week": plain_task("five days", midnight - timedelta(days=4, hours=2),
                               employee=zhang),
            "older": plain_task("a month", midnight - timedelta(days=30), employee=zhang)}
    plain_task("later", local_midnight(SHANGHAI, 3), employee=zhang)
    client = signed_in(app, "zhang")
    for key, task in ages.items():
        html = html_of(client.get(INBOX + f"?group=overdue&age={key}"))
        assert list(cards(html)) == [task.id]
        tabs = {n.attrs["class"].split()[1]: n.all_text().split()[-1]
                for n in parse(html).walk() if n.tag == "a" and "inbox-group-" in
                n.attrs.get("class", "")}
        assert tabs == {"inbox-group-today": "0", "inbox-group-overdue": "3",
                        "inbox-group-upcoming": "1"}
    html = html_of(client.get(INBOX + "?group=overdue"))
    chips = [" ".join(n.all_text().split()) for n in parse(html).walk()
             if n.tag == "a" and "inbox-age-" in n.attrs.get("class", "")]
    assert chips == ["Up to 1 day 1", "2 to 7 days 1", "Over a week 1"]
    ages_shown = [" ".join(n.all_text().split()) for n in parse(html).walk()
                  if "task-age" in n.classes]
    assert ages_shown == ["30 days late", "5 days late", "1 day late"]


def test_a_one_customer_card_shows_tier_stage_last_follow_up_and_last_message(app, staff):
    from models import FollowUp

    zhang = staff["zhangsan"]
    task = send_task(zhang, ["wx-ctx"], now_today(), text="Spring offer")
    with acting_as("test"):
        row = customer("wx-ctx", zhang)
        row.tier, row.lifecycle_stage = "high", "付费"
        db.session.add(FollowUp(customer_id=row.id, employee_id=zhang.id, at=utcnow(),
                                method="phone", key_points="Asked about the   new cream"))
        db.session.commit()
    older = send_task(zhang, ["wx-ctx"], now_today() - timedelta(days=1), text="Old news")
    press_done(signed_in(app, "zhang"), older.id)
    html = html_of(signed_in(app, "zhang").get(INBOX))
    card = next(n for n in parse(html).walk() if n.attrs.get("data-task-id") == str(task.id))
    context = next(n for n in card.walk() if "task-context" in n.classes)
    parts = [" ".join(n.all_text().split()) for n in context.children]
    day = utcnow().astimezone(SHANGHAI).strftime("%m-%d")
    assert parts == ["Tier: High", "Stage: 付费", f"Last follow-up: {day} Asked about the new cream",
                     f"Last message: {day} Old news"]


def test_ticked_send_tasks_are_marked_done_together_audited_and_counted(app, staff):
    zhang, li = staff["zhangsan"], staff["lisi"]
    mine = [send_task(zhang, [f"wx-{i}", f"wx-{i}b"], now_today(), sop_key=f"s{i}")
            for i in range(3)]
    follow_up = plain_task("call", now_today(), employee=zhang)
    theirs = send_task(li, ["wx-li"], now_today(), sop_key="south")
    client = signed_in(app, "zhang")
    page = html_of(client.get(INBOX))
    ticks = [n.attrs for n in parse(page).walk() if "task-tick" in n.classes]
    assert {t["value"] for t in ticks} == {str(t.id) for t in mine}  # send tasks only
    assert {t["form"] for t in ticks} == {"bulk-today"}
    token = csrf_token_from(page)
    ids = [str(mine[0].id), str(mine[1].id), str(follow_up.id), str(theirs.id)]
    resp = client.post("/admin/inbox/done-many/", data={"csrf_token": token, "id": ids},
                       follow_redirects=True)
    html = html_of(resp)
    assert flashes(html, "success") == ["2 send tasks marked done, 4 messages marked sent."]
    assert flashes(html, "warning") == [
        "2 ticked tasks were left as they are (done already, not send tasks or not yours)."]
    db.session.expire_all()
    assert [db.session.get(Task, t.id).status for t in (*mine, follow_up, theirs)] == [
        "done", "done", "open", "open", "open"]
    assert statuses(mine[0]) == ["sent", "sent"] and statuses(theirs) == ["queued"]
    audited = db.session.scalars(select(AuditLog.object_id).where(
        AuditLog.object_type == "Task", AuditLog.actor == "zhang")).all()
    assert sorted(audited) == sorted([mine[0].id, mine[1].id])
    assert client.post("/admin/inbox/done-many/", data={"id": [str(mine[2].id)]}
                       ).status_code == 400  # no CSRF token
    assert db.session.get(Task, mine[2].id).status == "open"


def test_a_one_customer_task_shows_its_customer(app, staff):
    vip = customer("wx-vip", staff["zhangsan"], name="VIP 王女士")
    task = plain_task("call back", utcnow() - timedelta(days=3), employee=staff["zhangsan"],
                      about=vip, deadline_at=utcnow() - timedelta(days=2))
    card = cards(html_of(signed_in(app, "zhang").get(INBOX)))[task.id]
    assert (card["section"], card["kind"], card["customers"]) == (
        "overdue", "Follow-up", [("VIP 王女士", "wx-vip")])


# --- Done -------------------------------------------------------------------------------------
def test_done_marks_the_deliveries_sent_and_the_task_leaves_the_inbox(app, offer):
    zhang = signed_in(app, "zhang")
    assert statuses(offer) == ["queued"] * 3
    html = html_of(press_done(zhang, offer.id))
    assert flashes(html, "success") == ["3 messages marked sent."]
    assert offer.id not in cards(html) and empty_state(html)
    assert "Nothing to do" in html

    db.session.expire_all()
    task = db.session.get(Task, offer.id)
    assert (task.status, task.done_by) == ("done", "zhang") and task.done_at is not None
    rows = db.session.scalars(select(Delivery).where(Delivery.task_id == offer.id)).all()
    assert {(d.status, d.sent_at) for d in rows} == {("sent", task.done_at)}
    batch = db.session.scalar(select(SendBatch).where(SendBatch.task_id == offer.id))
    assert (batch.status, batch.finished_at) == ("done", task.done_at)
    audit = db.session.scalars(select(AuditLog).where(
        AuditLog.object_type == "Task", AuditLog.action == "update")).all()
    assert [(a.actor, a.object_id, a.after["status"]) for a in audit] == [
        ("zhang", offer.id, "done")]

    # pressing it again (another tab) changes nothing and says so
    again = html_of(press_done(zhang, offer.id))
    assert flashes(again, "success") == []
    assert flashes(again, "warning") == ["This task is already done; nothing was changed."]
    db.session.expire_all()
    assert db.session.get(Task, offer.id).done_at == task.done_at


def test_done_on_a_task_without_messages_says_so(app, staff):
    task = plain_task("call back", utcnow(), employee=staff["zhangsan"])
    html = html_of(press_done(signed_in(app, "zhang"), task.id))
    assert flashes(html, "success") == ["Task marked done."]
    db.session.expire_all()
    assert db.session.get(Task, task.id).status == "done"


def test_done_needs_the_csrf_token(app, offer):
    zhang = signed_in(app, "zhang")
    resp = zhang.post(DONE, data={"id": str(offer.id)})
    assert resp.status_code == 400
    resp = zhang.post(DONE, data={"id": str(offer.id), "csrf_token": "forged"})
    assert resp.status_code == 400
    assert statuses(offer) == ["queued"] * 3
    assert db.session.get(Task, offer.id).status == "open"


def test_another_sales_user_neither_sees_nor_finishes_the_task(app, offer):
    li = signed_in(app, "li")
    html = html_of(li.get(INBOX))
    assert cards(html) == {} and empty_state(html)
    assert "Spring offer" not in html and "wx-a" not in html
    resp = li.post(DONE, data={"csrf_token": csrf_token_from(html), "id": str(offer.id)})
    assert resp.status_code == 403
    assert statuses(offer) == ["queued"] * 3
    assert db.session.get(Task, offer.id).status == "open"
    # bad ids: not a number 400, no such task 404
    token = csrf_token_from(html)
    assert li.post(DONE, data={"csrf_token": token, "id": "x"}).status_code == 400
    assert li.post(DONE, data={"csrf_token": token, "id": "²"}).status_code == 400
    assert li.post(DONE, data={"csrf_token": token, "id": "999999"}).status_code == 404


def test_managers_of_the_department_and_admin_may_finish_it_others_not(app, admin_user, offer):
    far = signed_in(app, "far")  # manages 华南销售, not zhangsan's department
    assert offer.id not in cards(html_of(far.get(INBOX)))
    assert far.post(DONE, data={"csrf_token": csrf_token_from(html_of(far.get(INBOX))),
                                "id": str(offer.id)}).status_code == 403

    admin = signed_in(app, "admin")
    assert cards(html_of(admin.get(INBOX)))[offer.id]["assignee"] == "For Zhangsan (zhangsan)"

    boss = signed_in(app, "boss")  # manages 华东销售
    card = cards(html_of(boss.get(INBOX)))[offer.id]
    assert card["assignee"] == "For Zhangsan (zhangsan)"
    assert flashes(html_of(press_done(boss, offer.id)), "success") == ["3 messages marked sent."]
    assert statuses(offer) == ["sent"] * 3
    assert db.session.get(Task, offer.id).done_by == "boss"


def test_a_task_given_to_a_role_is_seen_and_done_by_that_role_about_own_customers(app, staff):
    mine = plain_task("any sales: wx-z", utcnow(), role="sales",
                      about=customer("wx-z", staff["zhangsan"]))
    theirs = plain_task("any sales: wx-l", utcnow(), role="sales",
                        about=customer("wx-l", staff["lisi"]))
    zhang = signed_in(app, "zhang")
    shown = cards(html_of(zhang.get(INBOX)))
    assert set(shown) == {mine.id} and shown[mine.id]["assignee"] == "For Sales"
    token = csrf_token_from(html_of(zhang.get(INBOX)))
    assert zhang.post(DONE, data={"csrf_token": token, "id": str(theirs.id)}).status_code == 403
    assert flashes(html_of(press_done(zhang, mine.id)), "success") == ["Task marked done."]


# --- in a real browser --------------------------------------------------------------------------
@pytest.mark.browser
def test_in_a_browser_a_sales_user_copies_the_text_and_clicks_done(app, page, offer):
    from tests.support.browser import sign_in

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, "zhang")
    page.goto("/lang/en")
    page.goto(INBOX)
    card = page.locator(f".inbox-task[data-task-id='{offer.id}']")
    assert card.locator(".task-text").inner_text() == "Spring offer:\n<b>20% off</b> for you"
    assert card.locator(".task-customer").count() == 3

    card.locator(f"[data-copy='task-text-{offer.id}']").click()
    page.wait_for_function(
        f"document.querySelector(\"[data-copy='task-text-{offer.id}']\").textContent"
        " === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()") == \
        "Spring offer:\n<b>20% off</b> for you"

    with page.expect_navigation():
        card.locator("form.task-done button[type=submit]").click()
    assert page.locator(".alert-success").inner_text().replace("×", "").strip() == \
        "3 messages marked sent."
    assert page.locator(".inbox-empty").is_visible()
    assert page.locator(".inbox-task").count() == 0
    db.session.expire_all()
    assert statuses(offer) == ["sent"] * 3
    assert db.session.scalar(select(func.count()).select_from(Task).where(
        Task.status == "open")) == 0


@pytest.mark.browser
def test_in_a_browser_overdue_pages_and_ticked_send_tasks_are_done_together(app, page, staff):
    from tests.support.browser import sign_in

    zhang = staff["zhangsan"]
    late = [plain_task(f"late {i:02d}", utcnow() - timedelta(days=30 - i), employee=zhang)
            for i in range(23)]
    sends = [send_task(zhang, [f"wx-{i}"], now_today(), sop_key=f"s{i}") for i in range(2)]
    sign_in(page, "zhang")
    page.goto("/lang/en")
    page.goto(INBOX)
    with page.expect_navigation():
        page.click(".inbox-group-overdue")
    assert page.locator(".inbox-task").count() == 20
    assert page.locator(".page-of").inner_text() == "Page 1 of 2"
    with page.expect_navigation():
        page.click(".inbox-pager >> text='2'")
    shown = page.locator(".inbox-task").evaluate_all(
        "cards => cards.map(c => Number(c.dataset.taskId))")
    assert shown == [t.id for t in late[20:]]

    with page.expect_navigation():
        page.click(".inbox-group-today")
    page.click(".tick-all")  # static/inbox.js ticks the boxes that belong to the form
    assert page.locator(".task-tick:checked").count() == 2
    with page.expect_navigation():
        page.click("form.inbox-bulk button[type=submit]")
    assert page.locator(".alert-success").inner_text().replace("×", "").strip() == \
        "2 send tasks marked done, 2 messages marked sent."
    assert page.locator(".inbox-group-today .badge").inner_text() == "0"
    db.session.expire_all()
    assert {db.session.get(Task, t.id).status for t in sends} == {"done"}
