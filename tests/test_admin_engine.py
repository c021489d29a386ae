"""The engine in the admin: SOP lifecycle buttons, the SOP's customer list with manual
end and re-add, the deliveries and tasks lists, and "sync data" of a journey."""
from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import delete, func, select

from jobs import engine_jobs
from jobs.queues import TICK_QUEUE, queue
from models import AuditLog, Delivery, Employee, Enrollment, Task, db
from models.audit import acting_as
from models.base import utcnow
from tests.conftest import csrf_token_from, make_user
from tests.engine_support import (
    added, customer, doc, enrollment, events, journey, journey_row, load, run_tick, sop,
    sop_row, step, tags_of,
)
from tests.test_admin_support import parse, signed_in

LIFECYCLE = "/admin/sops/lifecycle/"


@pytest.fixture(autouse=True)
def empty_tick_queue(app):
    """The buttons queue ticks on the session's real Redis; nothing here works them."""
    yield
    queue(app, TICK_QUEUE).empty()


@pytest.fixture
def now():
    return utcnow()


@pytest.fixture
def world(now):
    """care (draft nurture, VIP customers), later (running nurture), complaint (playbook);
    vip-a (zhangsan, 华东销售), vip-b (lisi, 华南销售), plain (zhangsan)."""
    load(doc(sops=[
        sop("care", status="draft", target={"tags_any": ["VIP"]},
            steps=[step(0, "00:00"), step(3)]),
        sop("later", steps=[step(5)], target={"tags_any": ["无关"]}),
        sop("complaint", kind="playbook", status="draft",
            steps=[step(0, action="task", title="call", assignee="owner")]),
    ]), now)
    events(added("vip-a", tags=["VIP"]), added("vip-b", owner="lisi", tags=["VIP"]),
           added("plain"), now=now)
    run_tick(now)  # `later` finishes its first evaluation (nobody matches it)
    return now


@pytest.fixture
def admin(app, admin_user):
    return signed_in(app, "admin")


def user_client(app, username, role, userid=None):
    employee = db.session.scalar(select(Employee).where(Employee.userid == userid)) \
        if userid else None
    make_user(username, role, employee)
    return signed_in(app, username)


def html_of(resp) -> str:
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def flashes(html: str, kind: str) -> list[str]:
    """The flashed messages of a kind (success, warning, danger), without the close ×."""
    return [n.all_text().strip().rstrip("×").strip() for n in parse(html).walk()
            if n.tag == "div" and f"alert-{kind}" in n.classes]


def errors(html: str) -> list[str]:
    return flashes(html, "danger")


def buttons(html: str) -> list[str]:
    """The values of the lifecycle buttons on the page."""
    return [n.attrs["value"] for n in parse(html).walk()
            if n.tag == "button" and n.attrs.get("name") == "move"]


def progress_urls(html: str) -> list[str]:
    """The JSON addresses the page's progress bars poll."""
    return [n.attrs["data-progress-url"] for n in parse(html).walk()
            if "data-progress-url" in n.attrs]


def press(client, page_url: str, action: str, **data):
    """Open the page (for its CSRF token), then POST the button's form, following it."""
    token = csrf_token_from(html_of(client.get(page_url)))
    return client.post(action, data={"csrf_token": token, **data}, follow_redirects=True)


def details(sop_key: str) -> str:
    return f"/admin/sops/details/?id={sop_row(sop_key).id}"


def move(client, sop_key: str, name: str):
    return press(client, details(sop_key), LIFECYCLE, id=sop_row(sop_key).id, move=name)


def cells(html: str, column: str) -> list[str]:
    return [c.all_text().strip() for c in parse(html).walk()
            if c.tag == "td" and f"col-{column}" in c.classes]


def audit_rows(**where) -> list[AuditLog]:
    query = select(AuditLog)
    for name, value in where.items():
        query = query.where(getattr(AuditLog, name) == value)
    return list(db.session.scalars(query.order_by(AuditLog.id)))


# --- SOP lifecycle -------------------------------------------------------------------
def test_start_moves_a_draft_to_initializing_and_the_tick_finishes_it(app, admin, world):
    assert buttons(html_of(admin.get(details("care")))) == ["start"]
    audited_before = len(audit_rows(object_type="Sop"))

    resp = move(admin, "care", "start")
    html = html_of(resp)
    db.session.expire_all()
    care = sop_row("care")
    assert care.status == "initializing" and care.init_progress == 0
    assert flashes(html, "success") and errors(html) == []
    change = audit_rows(object_type="Sop")[audited_before:]
    assert [(a.action, a.actor, a.object_id, a.after["status"]) for a in change] == \
        [("update", "admin", care.id, "initializing")]
    assert queue(app, TICK_QUEUE).count == 1  # the first evaluation is asked for at once

    # while initializing: the progress bar (polling its JSON), pause and end
    assert progress_urls(html) == [f"/admin/sops/progress/?id={care.id}"]
    assert buttons(html) == ["pause", "end"]
    assert admin.get(f"/admin/sops/progress/?id={care.id}").json == {
        "status": "initializing", "label": "Initializing", "progress": 0, "done": False}
    listed = html_of(admin.get("/admin/sops/"))
    assert any("Initializing" in c and "0%" in c for c in cells(listed, "status"))

    run_tick(world)
    care = sop_row("care")
    assert (care.status, care.init_progress) == ("running", 100)
    assert admin.get(f"/admin/sops/progress/?id={care.id}").json["done"] is True
    html = html_of(admin.get(details("care")))
    assert progress_urls(html) == [] and buttons(html) == ["pause", "end"]
    assert enrollment("care", "vip-a").status == "active"
    assert enrollment("care", "plain") is None


def test_pause_resume_and_end(admin, world):
    move(admin, "care", "start")
    run_tick(world)
    html = html_of(move(admin, "care", "pause"))
    assert sop_row("care").status == "paused" and buttons(html) == ["resume", "end"]

    html = html_of(move(admin, "care", "resume"))
    db.session.expire_all()
    assert sop_row("care").status == "running" and buttons(html) == ["pause", "end"]

    html = html_of(move(admin, "care", "end"))
    db.session.expire_all()
    care = sop_row("care")
    assert care.status == "ended" and care.ended_at is not None and buttons(html) == []
    assert enrollment("care", "vip-a").status == "ended_manual"
    pending = db.session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.sop_id == care.id, Delivery.status.in_(("pending", "deferred"))))
    assert pending == 0


@pytest.mark.parametrize("role", ["sales", "manager"])
def test_roles_that_do_not_configure_sops_get_403_on_the_buttons(app, world, role):
    client = user_client(app, "someone", role, "zhangsan")
    token = csrf_token_from(html_of(client.get("/admin/")))
    resp = client.post(LIFECYCLE, data={"csrf_token": token, "id": sop_row("care").id,
                                        "move": "start"})
    assert resp.status_code == 403
    db.session.expire_all()
    assert sop_row("care").status == "draft"


def test_an_illegal_move_is_refused_with_its_reason_and_changes_nothing(admin, world):
    audited_before = len(audit_rows())
    html = html_of(move(admin, "care", "resume"))
    assert errors(html) == [
        "Nothing was changed: SOP care is draft; only a paused SOP can resume"]
    db.session.expire_all()
    assert sop_row("care").status == "draft"
    assert len(audit_rows()) == audited_before


def test_a_start_without_redis_still_starts_and_says_the_periodic_tick_will_run_it(
        admin, world, monkeypatch):
    def redis_down(app):
        raise RedisConnectionError("connection refused")

    monkeypatch.setattr(engine_jobs, "enqueue_tick", redis_down)
    html = html_of(move(admin, "care", "start"))
    db.session.expire_all()
    assert sop_row("care").status == "initializing"
    assert any("next periodic tick" in m for m in flashes(html, "warning"))


def test_the_buttons_and_their_questions_are_chinese_by_default(app, admin_user, world):
    from tests.conftest import login
    from tests.test_admin_support import fresh_client

    client = fresh_client(app)
    login(client, "admin")
    root = parse(html_of(client.get(details("care"))))
    start = next(n for n in root.walk() if n.tag == "button" and n.attrs.get("value") == "start")
    assert start.all_text().strip() == "开始"
    assert start.attrs["data-confirm"].startswith("确定开始此SOP")
    html = html_of(client.post(LIFECYCLE, follow_redirects=True, data={
        "csrf_token": csrf_token_from(html_of(client.get(details("care")))),
        "id": sop_row("care").id, "move": "resume"}))
    # the engine's refusal is translated too (its template is in the catalogue)
    assert errors(html) == ["未做任何更改：SOP care 当前为 draft；只有已暂停的SOP才能恢复"]


# --- the SOP's customer list ------------------------------------------------------------
def started(client, now, *keys):
    for key in keys:
        move(client, key, "start")
    run_tick(now)


def enrollment_ids(*pairs) -> list[str]:
    return [str(enrollment(key, ext).id) for key, ext in pairs]


def test_customer_list_from_the_sop_page_shows_only_that_sops_customers(admin, world):
    events(added("other", tags=["无关"]), now=world)
    started(admin, world, "care")
    later = sop_row("later")
    assert enrollment("later", "other") is not None  # a customer in another SOP

    page = html_of(admin.get(details("care")))
    link = next(n.attrs["href"] for n in parse(page).walk()
                if n.tag == "a" and n.all_text().strip() == "Customers"
                and "enrollments" in n.attrs.get("href", ""))
    html = html_of(admin.get(link))
    assert sorted(" ".join(c.split()) for c in cells(html, "customer")) == [
        "vip-a vip-a", "vip-b vip-b"]
    assert {c for c in cells(html, "status")} == {"In progress"}
    other = html_of(admin.get(f"/admin/enrollments/?flt0_0={later.id}"))
    assert [" ".join(c.split()) for c in cells(other, "customer")] == ["other other"]
    found = html_of(admin.get("/admin/enrollments/?search=vip-b"))  # by the customer
    assert [" ".join(c.split()) for c in cells(found, "customer")] == ["vip-b vip-b"]


def end_selected(client, ids, **form):
    """The bulk action, then its form (tags, flow), as the browser sends them."""
    token = csrf_token_from(html_of(client.get("/admin/enrollments/")))
    page = client.post("/admin/enrollments/action/",
                       data={"csrf_token": token, "action": "end_selected", "rowid": ids,
                             "url": "/admin/enrollments/"})
    html = html_of(page)
    fields = {n.attrs["name"]: n.attrs.get("value", "") for n in parse(html).walk()
              if n.tag == "input" and n.attrs.get("type") == "hidden"}
    assert fields["ids"] == ",".join(ids)
    data = {"csrf_token": fields["csrf_token"], "ids": fields["ids"], "url": fields["url"],
            **form}
    return client.post("/admin/enrollments/end/", data=data, follow_redirects=True)


def test_manual_end_ends_the_selected_with_tags_and_a_flow(admin, world):
    started(admin, world, "care")
    ids = enrollment_ids(("care", "vip-a"), ("care", "vip-b"))
    html = html_of(end_selected(admin, ids, tags="回访完成、新客礼, 已跟进", flow_to="later"))
    assert "Ended 2 customers' enrollments by hand." in flashes(html, "success")
    db.session.expire_all()
    care, later = sop_row("care"), sop_row("later")
    for ext in ("vip-a", "vip-b"):
        ended = enrollment("care", ext)
        assert (ended.status, ended.flow_result) == ("ended_manual", "entered later")
        assert {"回访完成", "新客礼", "已跟进"} <= set(tags_of(ext))
        flowed = enrollment("later", ext)
        assert (flowed.status, flowed.flowed_from_id) == ("active", care.id)
    assert enrollment("later", "plain") is None and later.status == "running"
    pending = db.session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.sop_id == care.id, Delivery.status == "pending"))
    assert pending == 0


def test_manual_end_refuses_a_flow_target_that_is_not_offered(admin, world):
    started(admin, world, "care")
    ids = enrollment_ids(("care", "vip-a"))
    resp = end_selected(admin, ids, flow_to="complaint")  # a playbook is never offered
    html = html_of(resp)
    assert "Not a valid choice" in html and 'action="/admin/enrollments/end/"' in html
    db.session.expire_all()
    assert enrollment("care", "vip-a").status == "active"
    assert "complaint" not in {o.attrs.get("value") for o in parse(html).walk()
                               if o.tag == "option"}


def test_manual_end_refuses_a_tag_name_that_is_too_long(admin, world):
    started(admin, world, "care")
    html = html_of(end_selected(admin, enrollment_ids(("care", "vip-a")), tags="x" * 101))
    assert "A tag name has at most 100 characters" in html
    db.session.expire_all()
    assert enrollment("care", "vip-a").status == "active"


def run_action(client, name, ids):
    token = csrf_token_from(html_of(client.get("/admin/enrollments/")))
    return client.post("/admin/enrollments/action/", follow_redirects=True,
                       data={"csrf_token": token, "action": name, "rowid": ids})


def test_re_add_starts_an_ended_enrollment_again_and_refuses_an_active_one(admin, world):
    started(admin, world, "care")
    end_selected(admin, enrollment_ids(("care", "vip-a")))
    active = enrollment_ids(("care", "vip-b"))
    html = html_of(run_action(admin, "re_add", enrollment_ids(("care", "vip-a")) + active))
    assert any("already in care" in e for e in errors(html))
    db.session.expire_all()
    assert enrollment("care", "vip-a").status == "ended_manual"  # all or nothing

    html = html_of(run_action(admin, "re_add", enrollment_ids(("care", "vip-a"))))
    assert "Re-added 1 customer." in flashes(html, "success")
    db.session.expire_all()
    again = enrollment("care", "vip-a")
    assert (again.status, again.round, again.ended_at) == ("active", 2, None)


def test_a_manager_reads_the_enrollments_of_their_department_only(app, admin, world):
    started(admin, world, "care")
    boss = user_client(app, "boss", "manager", "zhangsan")  # zhangsan is in 华东销售
    html = html_of(boss.get("/admin/enrollments/"))
    assert [" ".join(c.split()) for c in cells(html, "customer")] == ["vip-a vip-a"]
    assert "end_selected" not in html  # the actions are for ops
    other = enrollment("care", "vip-b")
    assert boss.get(f"/admin/enrollments/details/?id={other.id}").status_code == 404
    token = csrf_token_from(html)
    resp = boss.post("/admin/enrollments/end/", data={"csrf_token": token,
                                                      "ids": str(other.id)})
    assert resp.status_code == 403
    db.session.expire_all()
    assert enrollment("care", "vip-b").status == "active"


# --- deliveries and tasks ----------------------------------------------------------------
def test_deliveries_list_shows_the_ledger_and_filters_by_status(admin, world):
    started(admin, world, "care")
    end_selected(admin, enrollment_ids(("care", "vip-b")))
    rows = db.session.scalars(select(Delivery).order_by(Delivery.id)).all()
    assert {(r.status) for r in rows} == {"pending", "cancelled"}

    html = html_of(admin.get("/admin/deliveries/"))
    assert sorted(cells(html, "id")) == sorted(str(r.id) for r in rows)
    assert set(cells(html, "status")) == {"Pending", "Cancelled"}
    assert set(cells(html, "step")) == {"1"}  # the first step, counted from 1
    assert set(cells(html, "origin")) == {str(sop_row("care"))}

    cancelled = html_of(admin.get("/admin/deliveries/?flt0_2=cancelled"))
    assert cells(cancelled, "id") == [str(r.id) for r in rows if r.status == "cancelled"]
    assert cells(cancelled, "reason") == ["ended by hand"]


def make_task(title, employee=None, role=None, customer_ext=None) -> Task:
    with acting_as("test"):
        task = Task(kind="step", title=title, due_at=utcnow(), role=role,
                    employee_id=employee.id if employee else None,
                    customer_id=customer(customer_ext).id if customer_ext else None)
        db.session.add(task)
        db.session.commit()
    return task


def test_tasks_are_seen_by_their_assignee_their_manager_ops_and_admin(app, admin, world):
    # the world's new customers wait for review: those tasks have their own tests
    db.session.execute(delete(Task).where(Task.rule.is_not(None)))
    db.session.commit()
    staff = {e.userid: e for e in db.session.scalars(select(Employee))}
    make_task("zhang's", staff["zhangsan"], customer_ext="vip-a")
    make_task("li's", staff["lisi"], customer_ext="vip-b")
    make_task("any sales, about vip-a", role="sales", customer_ext="vip-a")
    make_task("any sales, about vip-b", role="sales", customer_ext="vip-b")

    def titles(client):
        return sorted(cells(html_of(client.get("/admin/tasks/")), "title"))

    assert titles(user_client(app, "zhang", "sales", "zhangsan")) == [
        "any sales, about vip-a", "zhang's"]
    assert titles(user_client(app, "li", "sales", "lisi")) == [
        "any sales, about vip-b", "li's"]
    assert titles(user_client(app, "boss", "manager", "zhangsan")) == [
        "any sales, about vip-a", "zhang's"]
    assert titles(user_client(app, "nobody", "sales")) == []
    assert len(titles(admin)) == 4 and len(titles(user_client(app, "ops", "ops"))) == 4
    assert user_client(app, "money", "finance").get("/admin/tasks/").status_code == 403


# --- journeys: sync data ------------------------------------------------------------------
def test_sync_locks_the_journey_until_the_tick_has_placed_everyone(admin, world):
    load(doc(journeys=[journey("dental", [
        {"key": "vip", "name": "VIP stage", "rules": [{"tags_any": ["VIP"]}]},
        {"key": "quiet", "name": "Quiet stage", "rules": [{"tags_any": ["无关"]}]}])]), world)
    dental = journey_row("dental")
    page = f"/admin/journeys/details/?id={dental.id}"
    assert buttons(html_of(admin.get(page))) == ["sync"]

    html = html_of(press(admin, page, "/admin/journeys/sync/", id=dental.id))
    db.session.expire_all()
    dental = journey_row("dental")
    assert dental.sync_started_at is not None and dental.sync_progress == 0
    assert buttons(html) == [] and progress_urls(html) == [
        f"/admin/journeys/progress/?id={dental.id}"]
    assert admin.get(f"/admin/journeys/progress/?id={dental.id}").json == {
        "progress": 0, "done": False}

    edit = f"/admin/journeys/edit/?id={dental.id}"
    form = html_of(admin.get(edit))
    assert "cannot be edited until the sync has finished" in form
    resp = admin.post(edit, data={"csrf_token": csrf_token_from(form), "key": "dental",
                                  "name": "Renamed", "enabled": "y"})
    assert any("syncing" in e for e in errors(html_of(resp)))
    db.session.expire_all()
    assert journey_row("dental").name == "dental"

    run_tick(world)
    dental = journey_row("dental")
    assert dental.sync_started_at is None and dental.synced_at is not None
    html = html_of(admin.get(page))
    table = next(n for n in parse(html).walk() if "stage-counts" in n.classes)
    counts = [[" ".join(c.all_text().split()) for c in tr.children if c.tag == "td"]
              for tr in table.walk() if tr.tag == "tr"][1:]  # below the header
    assert counts == [["VIP stage [vip]", "2"], ["Quiet stage [quiet]", "0"]]
    assert buttons(html) == ["sync"]


def test_sync_of_a_disabled_journey_is_refused(admin, world):
    load(doc(journeys=[journey("idle", [{"key": "s", "name": "S",
                                         "rules": [{"tags_any": ["VIP"]}]}],
                               enabled=False)]), world)
    idle = journey_row("idle")
    page = f"/admin/journeys/details/?id={idle.id}"
    html = html_of(press(admin, page, "/admin/journeys/sync/", id=idle.id))
    assert errors(html) == ["Nothing was changed: journey idle is not enabled"]
    db.session.expire_all()
    assert journey_row("idle").sync_started_at is None


# --- in a real browser: the confirm() and the progress that follows the tick ------------------
@pytest.mark.browser
def test_in_a_browser_start_asks_first_and_the_page_follows_the_first_evaluation(
        app, page, admin_user, world):
    from tests.support.browser import sign_in

    sign_in(page, "admin")
    page.goto("/lang/en")
    page.goto(details("care"))

    page.once("dialog", lambda dialog: dialog.dismiss())  # "Start this SOP?" - no
    page.click("button[value=start]")
    db.session.expire_all()
    assert sop_row("care").status == "draft"

    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click("button[value=start]")
    assert page.inner_text(".sop-status") == "Initializing"
    assert page.locator(".job-progress .progress-bar").inner_text() == "0%"

    run_tick(world)  # the page polls its progress and reloads once the evaluation is done
    # a locator wait, not wait_for_function: the CSP forbids evaluating strings
    page.locator(".sop-status", has_text="Running").wait_for(timeout=30_000)
    assert page.locator(".job-progress").count() == 0
    assert page.locator("button[value=pause]").count() == 1
