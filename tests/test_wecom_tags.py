"""Auto-tags written back to WeCom with mark_tag (through the outbox and its job), the
tag catalogue kept in step with change_external_tag, and the settings screen's
"test WeCom connection" button (SPEC §9)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from jobs.engine_jobs import run_tick as run_tick_job
from jobs.wecom_jobs import run_tag_writes
from models import Settings, Tag, WeComTagWrite, db
from tests.engine_support import (
    START, added, count, enrollment, events, local, run_tick, sop, step, tag_added,
)
from tests.test_admin_support import signed_in
from tests.conftest import csrf_token_from, make_user
from tests.wecom_support import (
    ADDED, at, early_end_set_up, fake_wecom, post, run_jobs, set_up,
)

EDITED = ADDED + timedelta(hours=2)


@pytest.fixture
def wecom(app):
    yield from fake_wecom(app)


def writes() -> list[WeComTagWrite]:
    db.session.expire_all()
    return list(db.session.scalars(select(WeComTagWrite).order_by(WeComTagWrite.id)))


def end_early(app, client, wecom) -> None:
    """wm-010 ends `welcome` early (a WeCom tag 已复购), so the SOP adds 提前结束."""
    early_end_set_up(app, client, wecom)
    at(wecom, EDITED)
    post(client, wecom, wecom.edit_tags("wm-010", "zhangsan", add=["已复购"]))
    run_jobs(app)
    run_tick_job((EDITED + timedelta(minutes=1)).isoformat())
    assert enrollment("welcome", "wm-010").status == "ended_early"


def test_an_auto_tag_reaches_mark_tag_through_the_job_the_tick_enqueues(app, client, wecom):
    end_early(app, client, wecom)
    [write] = writes()
    assert (write.tag.name, write.action, write.status) == ("提前结束", "add", "pending")
    assert wecom.mark_tag_log == []  # the tick itself never calls WeCom
    assert run_jobs(app) == 1  # enqueued by the tick job after its commit
    tag = db.session.scalar(select(Tag).where(Tag.name == "提前结束"))
    assert tag.wecom_id is not None  # created as a corp tag first (add_corp_tag)
    assert wecom.mark_tag_log == [{"userid": "zhangsan", "external_userid": "wm-010",
                                   "add_tag": [tag.wecom_id], "remove_tag": []}]
    assert "提前结束" in wecom.tag_names("wm-010", "zhangsan")
    assert (writes()[0].status, writes()[0].attempts) == ("done", 1)
    # WeCom now has the tag: the next edit callback does not undo or repeat it
    at(wecom, EDITED + timedelta(hours=1))
    post(client, wecom, wecom.edit_tags("wm-010", "zhangsan", add=["VIP"]))
    run_jobs(app)
    assert len(wecom.mark_tag_log) == 1 and len(writes()) == 1


def test_a_failed_mark_tag_is_retried_with_backoff_then_succeeds(app, client, wecom):
    end_early(app, client, wecom)
    wecom.fail_next("mark_tag", http_status=502)
    now = EDITED + timedelta(minutes=2)
    assert run_tag_writes(now.isoformat()) == {"pending": 1}
    [write] = writes()
    assert (write.status, write.attempts, write.next_try_at) == (
        "pending", 1, now + timedelta(seconds=60))
    assert "WeCom" in write.last_error and wecom.mark_tag_log == []
    assert run_tag_writes((now + timedelta(seconds=30)).isoformat()) == {}  # backing off
    assert run_tag_writes((now + timedelta(seconds=61)).isoformat()) == {"done": 1}
    assert len(wecom.mark_tag_log) == 1 and writes()[0].status == "done"


def test_no_write_back_unless_the_channel_is_wecom(wecom):
    nurture = sop("care", target={"tags_any": ["VIP"]}, early_end={
        "when": {"tags_any": ["已复购"]}, "add_tags": ["提前结束"]})
    set_up(wecom, [nurture], channel="task")
    run_tick(START + timedelta(minutes=5))
    events(added("c1", tags=["VIP"]), now=ADDED)
    run_tick(ADDED + timedelta(minutes=1))
    events(tag_added("c1", "已复购"), now=EDITED)
    run_tick(EDITED + timedelta(minutes=1))
    assert enrollment("care", "c1").status == "ended_early"
    assert count(WeComTagWrite) == 0


def test_change_external_tag_keeps_the_catalogue_in_step(app, client, wecom):
    set_up(wecom)
    vip = wecom.corp_tag("VIP", group="等级")
    fresh = wecom.corp_tag("新品体验", group="活动")
    at(wecom, ADDED)
    assert post(client, wecom, wecom.tag_xml(fresh, "create")).status_code == 200
    assert run_jobs(app) == 1
    tags = {t.name: (t.wecom_id, t.group_name) for t in db.session.scalars(select(Tag))}
    assert tags["VIP"] == (vip, "等级")  # an existing product tag, linked by name
    assert tags["新品体验"] == (fresh, "活动")  # created
    with wecom.lock:  # deleted in WeCom: the product tag stays, unlinked
        wecom.tag_groups[:] = [g for g in wecom.tag_groups if g["group_name"] != "活动"]
    post(client, wecom, wecom.tag_xml(fresh, "delete"))
    run_jobs(app)
    db.session.expire_all()
    assert db.session.scalar(select(Tag).where(Tag.name == "新品体验")).wecom_id is None


@pytest.mark.parametrize("secret, message", [
    ("test-secret", "WeCom connection OK: gettoken returned an access token."),
    ("wrong-secret", "WeCom connection failed: WeCom gettoken 40001: invalid credential"),
])
def test_the_settings_screen_tests_the_connection(app, wecom, secret, message):
    set_up(wecom)
    Settings.get(db.session).wecom_secret = secret
    db.session.commit()
    make_user("admin", "admin")
    admin = signed_in(app, "admin")
    page = admin.get("/admin/settings/", follow_redirects=True).get_data(as_text=True)
    assert 'id="test-wecom"' in page
    resp = admin.post("/admin/settings/test-connection/", follow_redirects=True,
                      data={"csrf_token": csrf_token_from(page)})
    assert message in resp.get_data(as_text=True)
    assert admin.post("/admin/settings/test-connection/").status_code == 400  # no CSRF token
    assert sum(r["path"].endswith("gettoken") for r in wecom.requests_log) == 1


def test_ops_reads_the_callback_journal_and_sales_may_not(app, client, wecom):
    set_up(wecom)
    at(wecom, ADDED)
    post(client, wecom, wecom.contact_xml("transfer_fail", "wm-9", "lisi",
                                          FailReason="customer_refused"))
    make_user("ops", "ops")
    make_user("sales", "sales")
    page = signed_in(app, "ops").get("/admin/wecom_callbacks/").get_data(as_text=True)
    assert "transfer failed: customer_refused" in page and "wm-9" in page
    assert signed_in(app, "sales").get("/admin/wecom_callbacks/").status_code == 403


def test_a_tag_step_adds_and_removes_tags_in_wecom_in_one_mark_tag(app, client, wecom):
    care = sop("care", target={"tags_any": ["VIP"]}, steps=[
        step(0, "10:00", "tag", add_tags=["回访完成"], remove_tags=["VIP", "旧标签"])])
    set_up(wecom, [care])
    run_tick(START + timedelta(minutes=5))
    at(wecom, ADDED)
    post(client, wecom, wecom.add_contact("wm-040", "zhangsan", tags=["VIP"]))
    run_jobs(app)
    vip = wecom.corp_tag("VIP")
    run_tick(ADDED + timedelta(minutes=1))
    run_tick_job(local(2025, 3, 1, 10, 1).isoformat())
    assert {(w.tag.name, w.action) for w in writes()} == {
        ("回访完成", "add"), ("VIP", "remove")}  # 旧标签: the customer never had it
    run_jobs(app)
    [call] = wecom.mark_tag_log
    assert call["remove_tag"] == [vip] and len(call["add_tag"]) == 1
    assert wecom.tag_names("wm-040", "zhangsan") == ["回访完成"]
    assert {w.status for w in writes()} == {"done"}
