"""The `wecom` channel against the fake WeCom server: one add_msg_template per batch,
fail_list, token caching and refresh, 45009 backoff, lost answers reconciled instead of
re-sent, and get_groupmsg_send_result reconciliation (status 1/2/3) (SPEC §5)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

import jobs.channels.wecom as wecom_module
from jobs.channels import channel_for
from jobs.channels.wecom import WeComChannel
from jobs.queues import redis_connection
from jobs.reconcile import reconcile
from jobs.sender import send_due
from models import QuotaLedger, SendBatch, Settings, db
from tests.engine_support import (
    added, customer, delivery_rows, doc, events, load, local, run_tick, sop, step,
)
from tests.support.fake_wecom import FakeWeCom

START = local(2025, 3, 1, 8)
TEN = local(2025, 3, 1, 10)


@pytest.fixture
def wecom(app):
    with FakeWeCom().start() as server:
        redis_connection(app).flushdb()  # no token cached from an earlier server
        yield server


def set_up(wecom, customers=("c1", "c2", "c3"), size=200) -> None:
    settings = {"channel": "wecom", "quota": {"limit": 1, "period": "day"},
                "wecom": {"corp_id": wecom.corp_id, "secret": wecom.secret,
                          "api_base_url": wecom.base_url}}
    nurture = sop("care", target={"tags_any": ["VIP"]}, batch={"size": size, "interval_minutes": 0},
                  steps=[step(0, "10:00", text="您好，春季护理提醒")])
    load(doc([nurture], settings=settings), START)
    run_tick(START + timedelta(minutes=1))
    events(*[added(c, tags=["VIP"]) for c in customers], now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))


def send(app, now):
    result = send_due(db.session, now, lambda name: channel_for(name, app))
    db.session.expire_all()
    return result


def statuses() -> dict[str, str]:
    return {d.customer.external_id: d.status for d in delivery_rows()}


def batch() -> SendBatch:
    db.session.expire_all()
    return db.session.scalar(select(SendBatch))


def gettoken_calls(wecom) -> int:
    return sum(1 for r in wecom.requests_log if r["path"].endswith("gettoken"))


def test_a_batch_is_one_add_msg_template_with_its_sender_customers_and_text(app, wecom):
    set_up(wecom)
    wecom.friends("zhangsan", ["c1", "c2"])  # c3 is not a friend: WeCom lists it in fail_list
    assert send(app, TEN)["queued"] == 1
    [message] = wecom.messages
    assert (message["sender"], message["external_userid"], message["text"]) == (
        "zhangsan", ["c1", "c2", "c3"], "您好，春季护理提醒")
    assert statuses() == {"c1": "queued", "c2": "queued", "c3": "failed"}
    assert delivery_rows("c3")[0].reason == "WeCom: not a friend of the sender"
    assert (batch().status, batch().msgid, batch().fail_list) == (
        "queued", message["msgid"], ["c3"])
    assert delivery_rows("c1")[0].text == "您好，春季护理提醒"


def test_the_token_is_cached_in_redis_and_refreshed_once_when_expired(app, wecom):
    set_up(wecom, customers=("c1", "c2"), size=1)
    send(app, TEN)
    assert (len(wecom.messages), gettoken_calls(wecom)) == (2, 1)  # one token, two batches
    assert redis_connection(app).keys("sop-wecom:*")
    wecom.expire_tokens()
    events(added("c4", tags=["VIP"]), now=local(2025, 3, 2, 9))
    run_tick(local(2025, 3, 2, 9, 5))
    send(app, local(2025, 3, 2, 10))
    assert len(wecom.messages) == 3 and gettoken_calls(wecom) == 2
    assert statuses()["c4"] == "queued"


def test_rate_limited_45009_is_retried_later_with_backoff(app, wecom):
    set_up(wecom)
    wecom.fail_next("add_msg_template", errcode=45009)
    assert send(app, TEN)["retry_later"] == 1
    b = batch()
    assert (b.status, b.attempt_open, b.retry_after) == ("planned", False, TEN + timedelta(seconds=30))
    assert "45009" in b.error and wecom.messages == []
    assert send(app, TEN + timedelta(seconds=10)).get("queued", 0) == 0  # still backing off
    assert send(app, TEN + timedelta(seconds=31))["queued"] == 1
    assert len(wecom.messages) == 1 and set(statuses().values()) == {"queued"}


@pytest.mark.parametrize("fault", [{"http_status": 502}, {"delay": 1.5}])
def test_a_lost_answer_is_reconciled_from_the_message_list_not_sent_again(
        app, wecom, monkeypatch, fault):
    monkeypatch.setattr(wecom_module, "TIMEOUT", 0.5)
    set_up(wecom)
    wecom.fail_next("add_msg_template", after_processing=True, **fault)
    assert send(app, TEN)["retry_later"] == 1
    b = batch()
    assert (b.status, b.attempt_open, len(wecom.messages)) == ("sending", True, 1)
    assert set(statuses().values()) == {"pending"}
    send(app, TEN + timedelta(minutes=1))
    assert len(wecom.messages) == 1  # WeCom got it the first time: adopted, not re-sent
    assert (batch().status, batch().msgid) == ("queued", wecom.messages[0]["msgid"])
    assert set(statuses().values()) == {"queued"}


def test_an_error_answer_that_is_permanent_fails_the_batch_with_the_reason(app, wecom):
    set_up(wecom)
    wecom.fail_next("add_msg_template", errcode=40003)
    assert send(app, TEN)["failed"] == 1
    assert set(statuses().values()) == {"failed"}
    assert "40003" in delivery_rows("c1")[0].reason and wecom.messages == []


def test_reconciliation_maps_status_1_2_3_and_corrects_the_ledger(app, wecom):
    set_up(wecom)
    send(app, TEN)
    wecom.set_result("c2", 3)  # the customer already had a message from us today
    wecom.set_result("c3", 2)
    wecom.set_result("c4", 0)
    channel = WeComChannel.from_app(app)
    counts = reconcile(db.session, local(2025, 3, 1, 10, 10), channel)
    db.session.expire_all()
    assert (counts["sent"], counts["failed"], counts["deferred"]) == (1, 1, 1)
    assert statuses() == {"c1": "sent", "c2": "deferred", "c3": "failed"}
    assert delivery_rows("c1")[0].sent_at is not None
    c2 = customer("c2").id
    assert db.session.scalar(select(QuotaLedger.used).where(
        QuotaLedger.customer_id == c2, QuotaLedger.period_start == date(2025, 3, 1))) == 1
    assert batch().status == "done"
    # the deferred one is planned again: today is full, so tomorrow at the same time
    run_tick(local(2025, 3, 1, 10, 11))
    deferred = delivery_rows("c2")[0]
    assert (deferred.status, deferred.due_at) == ("deferred", local(2025, 3, 2, 10))
    run_tick(local(2025, 3, 2, 0, 1))
    send(app, local(2025, 3, 2, 10))
    assert [m["external_userid"] for m in wecom.messages] == [["c1", "c2", "c3"], ["c2"]]


def test_an_unsent_status_0_is_asked_again_later(app, wecom):
    set_up(wecom, customers=("c1",))
    send(app, TEN)
    wecom.set_result("c1", 0)
    channel = WeComChannel.from_app(app)
    reconcile(db.session, local(2025, 3, 1, 10, 10), channel)
    assert (statuses(), batch().status) == ({"c1": "queued"}, "queued")
    wecom.set_result("c1", 1)
    reconcile(db.session, local(2025, 3, 1, 10, 20), channel)
    assert (statuses(), batch().status) == ({"c1": "sent"}, "done")


def test_without_a_secret_the_batch_waits_with_the_reason_until_configured(app, wecom):
    set_up(wecom)
    Settings.get(db.session).wecom_secret = None
    db.session.commit()
    assert send(app, TEN)["retry_later"] == 1
    assert (batch().status, batch().error) == (
        "planned", "WeCom corp id and secret are not configured")
    Settings.get(db.session).wecom_secret = wecom.secret
    db.session.commit()
    assert send(app, TEN + timedelta(minutes=1))["queued"] == 1
    assert len(wecom.messages) == 1
