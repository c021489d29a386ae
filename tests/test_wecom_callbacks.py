"""`/wecom/callback` through the real crypto and endpoint (SPEC §9): URL verification,
refusals that write nothing, callbacks journaled once and turned into events, contact
details fetched from the fake WeCom by a job, the welcome message sent once."""
from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from wechatpy.crypto import _get_signature

from tests.engine_support import (
    START, customer, delivery_rows, enrollment, local, run_tick, step, tags_of, welcome,
)
from tests.wecom_support import (
    ADDED, WELCOME, at, callbacks, early_end_set_up, fake_wecom, post, row_counts, run_jobs,
    set_up,
)


@pytest.fixture
def wecom(app):
    yield from fake_wecom(app)


def test_url_verification_answers_the_decrypted_echostr(client, wecom):
    set_up(wecom)
    resp = client.get("/wecom/callback", query_string=wecom.url_check("echo-1234"))
    assert (resp.status_code, resp.get_data(as_text=True)) == (200, "echo-1234")
    assert resp.content_type.startswith("text/plain")
    forged = wecom.url_check("echo-1234") | {"msg_signature": "0" * 40}
    resp = client.get("/wecom/callback", query_string=forged)
    assert resp.status_code == 403 and "echo-1234" not in resp.get_data(as_text=True)


def test_an_add_callback_creates_the_customer_fetches_details_and_enrolls_it(app, client, wecom):
    set_up(wecom, [welcome()])
    run_tick(START + timedelta(minutes=5))
    at(wecom, ADDED)
    xml = wecom.add_contact("wm-001", "zhangsan", name="王小姐", remark="王小姐-防晒",
                            tags=["购买防晒正装"], state="渠道活码")
    resp = post(client, wecom, xml)
    assert (resp.status_code, resp.get_data(as_text=True)) == (200, "success")
    # at once: the customer, owned by UserID; the welcome message went inline
    c = customer("wm-001")
    assert (c.name, c.owner.userid, c.added_at) == ("wm-001", "zhangsan", ADDED)
    assert wecom.welcomes == [{"welcome_code": wecom.welcomes[0]["welcome_code"],
                               "external_userid": "wm-001", "text": WELCOME}]
    [row] = callbacks()
    assert (row.change_type, row.status, row.welcome, row.synced_at) == (
        "add_external_contact", "accepted", "sent", None)
    assert row.event_key == f"wecom:add_external_contact:wm-001:zhangsan:{int(ADDED.timestamp())}"
    assert enrollment("welcome", "wm-001") is None
    # the job: externalcontact/get through real HTTP, applied as events
    assert run_jobs(app) == 1
    assert any(r["path"].endswith("externalcontact/get") for r in wecom.requests_log)
    c = customer("wm-001")
    assert (c.name, c.source, c.customer_type) == ("王小姐-防晒", "渠道活码", "individual")
    assert tags_of("wm-001") == {"购买防晒正装": "event"}
    assert callbacks()[0].synced_at is not None
    run_tick(ADDED + timedelta(minutes=1))
    assert enrollment("welcome", "wm-001").status == "active"


def test_a_duplicate_callback_is_processed_once_and_welcomed_once(app, client, wecom):
    set_up(wecom)
    at(wecom, ADDED)
    xml = wecom.add_contact("wm-002", "zhangsan", tags=["VIP"])
    first, again = post(client, wecom, xml), post(client, wecom, xml)  # WeCom's retry: new nonce
    assert [first.status_code, again.status_code] == [200, 200]
    assert again.get_data(as_text=True) == "success"
    [row] = callbacks()
    assert row.repeats == 1
    assert len(wecom.welcomes) == 1
    assert run_jobs(app) == 1  # one details job, not two
    counts = row_counts()
    assert post(client, wecom, xml).status_code == 200
    assert run_jobs(app) == 0
    assert row_counts() == counts and callbacks()[0].repeats == 2


def test_a_bad_signature_is_refused_logged_and_writes_nothing(client, wecom, caplog):
    set_up(wecom)
    before = row_counts()
    params, body = wecom.signed(wecom.add_contact("wm-003", "zhangsan"))
    with caplog.at_level(logging.WARNING, logger="sop.wecom"):
        resp = client.post("/wecom/callback", data=body, content_type="text/xml",
                           query_string=params | {"msg_signature": "f" * 40})
    assert resp.status_code == 403
    assert "bad signature" in caplog.text
    assert row_counts() == before and customer("wm-003") is None
    assert wecom.welcomes == []


def test_a_stale_timestamp_and_a_replayed_request_are_refused(client, wecom, caplog):
    set_up(wecom)
    xml = wecom.add_contact("wm-004", "zhangsan")
    before = row_counts()
    with caplog.at_level(logging.WARNING, logger="sop.wecom"):
        old = post(client, wecom, xml, timestamp=int(time.time()) - 600)
    assert old.status_code == 403 and "a replay?" in caplog.text
    assert row_counts() == before
    params, body = wecom.signed(xml)
    ok = client.post("/wecom/callback", query_string=params, data=body, content_type="text/xml")
    assert ok.status_code == 200
    after = row_counts()
    with caplog.at_level(logging.WARNING, logger="sop.wecom"):
        replay = client.post("/wecom/callback", query_string=params, data=body,
                             content_type="text/xml")
    assert replay.status_code == 403 and "replayed request" in caplog.text
    assert row_counts() == after and callbacks()[0].repeats == 0


def test_an_undecryptable_body_is_refused_and_writes_nothing(client, wecom, caplog):
    set_up(wecom)
    before = row_counts()
    timestamp, nonce, garbage = str(int(time.time())), "n0nce", "bm90IGVuY3J5cHRlZA=="
    signature = _get_signature(wecom.callback_token, timestamp, nonce, garbage)
    body = f"<xml><Encrypt><![CDATA[{garbage}]]></Encrypt></xml>"
    with caplog.at_level(logging.WARNING, logger="sop.wecom"):
        resp = client.post("/wecom/callback", data=body, content_type="text/xml", query_string={
            "msg_signature": signature, "timestamp": timestamp, "nonce": nonce})
        not_xml = client.post("/wecom/callback", data=b"\x00garbage", query_string={
            "msg_signature": signature, "timestamp": timestamp, "nonce": nonce})
    assert (resp.status_code, not_xml.status_code) == (403, 403)
    assert caplog.text.count("does not decrypt") == 2
    assert row_counts() == before


def test_a_welcome_code_past_its_20_seconds_is_journaled_as_not_sent(client, wecom):
    set_up(wecom)
    at(wecom, ADDED)
    xml = wecom.add_contact("wm-005", "zhangsan")
    at(wecom, ADDED + timedelta(seconds=21))
    assert post(client, wecom, xml).status_code == 200
    assert customer("wm-005") is not None and wecom.welcomes == []
    assert callbacks()[0].welcome.startswith("failed: WeCom 41096")


def test_an_edit_callback_with_a_new_tag_ends_an_sop_early(app, client, wecom):
    early_end_set_up(app, client, wecom)
    edited = ADDED + timedelta(hours=2)
    at(wecom, edited)
    assert post(client, wecom, wecom.edit_tags("wm-010", "zhangsan", add=["已复购"])).status_code \
        == 200
    assert "已复购" not in tags_of("wm-010")  # the tags come with the details job
    assert run_jobs(app) == 1
    assert tags_of("wm-010") == {"购买防晒正装": "event", "已复购": "event"}
    run_tick(edited + timedelta(minutes=1))
    assert enrollment("welcome", "wm-010").status == "ended_early"
    # a tag removed in WeCom is removed here too
    at(wecom, edited + timedelta(hours=1))
    post(client, wecom, wecom.edit_tags("wm-010", "zhangsan", remove=["购买防晒正装"]))
    run_jobs(app)
    assert "购买防晒正装" not in tags_of("wm-010")


def test_del_follow_user_marks_the_customer_lost_and_its_pending_sends_skipped(
        app, client, wecom):
    from jobs.channels import channel_for
    from jobs.sender import send_due
    from models import db

    set_up(wecom, [welcome(steps=[step(1, "10:00")])])
    run_tick(START + timedelta(minutes=5))
    at(wecom, ADDED)
    post(client, wecom, wecom.add_contact("wm-020", "zhangsan", tags=["购买防晒正装"],
                                          state="渠道活码"))
    run_jobs(app)
    run_tick(ADDED + timedelta(minutes=1))
    run_tick(local(2025, 3, 2, 8))  # the step's day has come: its delivery waits for 10:00
    assert [d.status for d in delivery_rows("wm-020")] == ["pending"]
    at(wecom, local(2025, 3, 2, 9))
    assert post(client, wecom, wecom.delete_contact("wm-020", "zhangsan")).status_code == 200
    assert customer("wm-020").churn_status == "lost"
    due = local(2025, 3, 2, 10)
    run_tick(due)
    send_due(db.session, due, lambda name: channel_for(name, app))
    db.session.expire_all()
    [d] = delivery_rows("wm-020")
    assert (d.status, d.reason) == ("skipped", "skipped: the customer is lost")
    assert wecom.messages == []


def test_del_external_contact_by_another_employee_leaves_the_customer(client, wecom):
    set_up(wecom)
    at(wecom, ADDED)
    post(client, wecom, wecom.add_contact("wm-021", "zhangsan"))
    post(client, wecom, wecom.delete_contact("wm-021", "lisi", by_customer=False))
    assert customer("wm-021").churn_status == "normal"
    assert callbacks()[1].status == "ignored" and "not the owner" in callbacks()[1].reason


def test_transfer_fail_is_journaled_and_the_owner_stays(client, wecom):
    set_up(wecom)
    at(wecom, ADDED)
    post(client, wecom, wecom.add_contact("wm-022", "zhangsan"))
    xml = wecom.contact_xml("transfer_fail", "wm-022", "lisi", FailReason="customer_refused")
    assert post(client, wecom, xml).status_code == 200
    assert customer("wm-022").owner.userid == "zhangsan"
    assert callbacks()[1].reason == "transfer failed: customer_refused"


def test_details_a_lost_job_never_fetched_are_fetched_by_the_periodic_run(app, client, wecom):
    from datetime import datetime, timezone

    from jobs.queues import SEND_QUEUE, queue
    from jobs.wecom_jobs import run_wecom

    set_up(wecom)
    at(wecom, ADDED)
    post(client, wecom, wecom.add_contact("wm-030", "zhangsan", remark="赵先生"))
    queue(app, SEND_QUEUE).empty()  # Redis lost the job
    assert run_wecom()["contacts"] == 0  # too young: its own job may still come
    later = datetime.now(timezone.utc) + timedelta(minutes=2)
    assert run_wecom(later.isoformat())["contacts"] == 1
    assert customer("wm-030").name == "赵先生" and callbacks()[0].synced_at is not None
