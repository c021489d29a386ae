"""Helpers for the WeCom integration tests: the fake server configured as the corp,
callbacks posted through the real endpoint, RQ jobs run by a burst worker."""
from __future__ import annotations

from datetime import datetime, timedelta

from rq import SimpleWorker
from sqlalchemy import func, select

from jobs.queues import SEND_QUEUE, queue, redis_connection
from models import (
    AuditLog, ChangeJournal, Customer, ProcessedEvent, Tag, WeComCallback, WeComTagWrite, db,
)
from tests.engine_support import START, doc, enrollment, load, local, run_tick, welcome
from tests.support.fake_wecom import FakeWeCom

WELCOME = "您好，欢迎关注！"
ADDED = local(2025, 3, 1, 9)  # after the SOPs of START started


def fake_wecom(app):
    """The body of each WeCom test module's `wecom` fixture: a started fake server."""
    with FakeWeCom().start() as server:
        redis_connection(app).flushdb()  # no token or job left by an earlier test
        yield server


def wecom_settings(wecom, channel: str = "wecom", welcome: str | None = WELCOME) -> dict:
    out = {"channel": channel, "wecom": {
        "corp_id": wecom.corp_id, "secret": wecom.secret, "api_base_url": wecom.base_url,
        "callback_token": wecom.callback_token, "callback_aes_key": wecom.aes_key}}
    if welcome:
        out["wecom"]["welcome_message"] = welcome
    return out


def set_up(wecom, sops=(), now: datetime | None = None, **settings) -> None:
    load(doc(list(sops), settings=wecom_settings(wecom, **settings)), now or START)


def at(wecom, instant: datetime) -> None:
    """Pin the fake's clock (CreateTime of callbacks, the welcome window) to `instant`."""
    wecom.clock = lambda: instant.timestamp()


def post(client, wecom, xml: str, **sign):
    params, body = wecom.signed(xml, **sign)
    return client.post("/wecom/callback", query_string=params, data=body,
                       content_type="text/xml")


def run_jobs(app) -> int:
    """Run every job waiting on the send queue in this process; how many ran."""
    q = queue(app, SEND_QUEUE)
    waiting = q.count
    SimpleWorker([q], connection=redis_connection(app)).work(burst=True)
    db.session.expire_all()
    return waiting


def callbacks() -> list[WeComCallback]:
    db.session.expire_all()
    return list(db.session.scalars(select(WeComCallback).order_by(WeComCallback.id)))


WRITTEN = (WeComCallback, Customer, ProcessedEvent, ChangeJournal, AuditLog, Tag, WeComTagWrite)


def row_counts() -> dict[str, int]:
    db.session.expire_all()
    return {m.__tablename__: db.session.scalar(select(func.count()).select_from(m))
            for m in WRITTEN}


def early_end_set_up(app, client, wecom, external_id="wm-010"):
    """A customer added by callback, details synced, enrolled in `welcome` (early end on
    已复购, adding 提前结束)."""
    set_up(wecom, [welcome(early_end={"when": {"tags_any": ["已复购"]},
                                      "add_tags": ["提前结束"]})])
    run_tick(START + timedelta(minutes=5))
    at(wecom, ADDED)
    post(client, wecom, wecom.add_contact(external_id, "zhangsan", tags=["购买防晒正装"],
                                          state="渠道活码"))
    run_jobs(app)
    run_tick(ADDED + timedelta(minutes=1))
    assert enrollment("welcome", external_id).status == "active"
