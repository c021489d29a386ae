"""The held-deliveries and send-batches screens: rows, labels, filters, scopes."""
from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from models import Delivery, SendBatch, db
from models.base import utcnow
from tests.conftest import csrf_token_from, make_user
from tests.inbox_support import html_of, offer, press_done, send_task, staff
from tests.test_admin_support import menu_links, parse, signed_in

__all__ = ["offer", "staff"]  # fixtures used here
SHANGHAI = ZoneInfo("Asia/Shanghai")


# --- held deliveries --------------------------------------------------------------------------
def cells(html: str, column: str) -> list[str]:
    return [" ".join(c.all_text().split()) for c in parse(html).walk()
            if c.tag == "td" and f"col-{column}" in c.classes]


@pytest.fixture
def held(staff):
    """wx-a (zhangsan's) and wx-l (lisi's) held; other deliveries of theirs are not."""
    task = send_task(staff["zhangsan"], ["wx-a", "wx-b"], utcnow(), delivery_status="queued")
    rows = db.session.scalars(select(Delivery).where(Delivery.task_id == task.id)
                              .order_by(Delivery.id)).all()
    other = send_task(staff["lisi"], ["wx-l", "wx-m"], utcnow(), sop_key="south")
    south = db.session.scalars(select(Delivery).where(Delivery.task_id == other.id)
                               .order_by(Delivery.id)).all()
    since = utcnow() - timedelta(days=1)
    reason = "held: the customer has no active owner"
    for row, status, held_since in ((rows[0], "pending", since), (rows[1], "cancelled", since),
                                    (south[0], "deferred", since), (south[1], "pending", None)):
        row.status, row.held_since, row.task_id = status, held_since, None
        row.reason = reason if held_since else None
    db.session.commit()
    return {"held": [rows[0].id, south[0].id], "since": since}


def test_held_deliveries_lists_only_held_ones(app, admin_user, held):
    admin = signed_in(app, "admin")
    html = html_of(admin.get("/admin/held_deliveries/"))
    assert sorted(int(i) for i in cells(html, "id")) == sorted(held["held"])
    assert set(cells(html, "reason")) == {"held: the customer has no active owner"}
    assert set(cells(html, "status")) == {"Pending", "Deferred"}
    assert set(cells(html, "held_since")) == {
        held["since"].astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")}
    assert set(cells(html, "origin")) == {"SOP care [care]", "SOP south [south]"}
    deferred = html_of(admin.get("/admin/held_deliveries/?flt0_2=deferred"))
    assert [int(i) for i in cells(deferred, "id")] == [held["held"][1]]
    # read-only, and the details of a delivery that is not held are not found here
    assert admin.get("/admin/held_deliveries/new/").status_code in (302, 403)
    not_held = db.session.scalar(select(Delivery.id).where(Delivery.held_since.is_(None)))
    assert admin.get(f"/admin/held_deliveries/details/?id={not_held}").status_code == 404
    assert admin.get(f"/admin/held_deliveries/details/?id={held['held'][0]}").status_code == 200


def test_held_deliveries_follow_the_customer_scope(app, held):
    boss = signed_in(app, "boss")  # 华东销售: zhangsan's customers only
    assert [int(i) for i in cells(html_of(boss.get("/admin/held_deliveries/")), "id")] == [
        held["held"][0]]
    assert signed_in(app, "zhang").get("/admin/held_deliveries/").status_code == 403


# --- send batches -----------------------------------------------------------------------------
@pytest.fixture
def batches(staff, offer):
    """zhangsan's queued inbox batch (3 deliveries), a failed WeCom batch of lisi's."""
    other = send_task(staff["lisi"], ["wx-l"], utcnow(), sop_key="south")
    failed = db.session.scalar(select(SendBatch).where(SendBatch.task_id == other.id))
    failed.channel, failed.status, failed.error = "wecom", "failed", "errcode 41001: no token"
    failed.msgid, failed.task_id, failed.attempts = None, None, 12
    db.session.execute(Delivery.__table__.update().where(Delivery.batch_id == failed.id)
                       .values(status="failed", task_id=None))
    db.session.commit()
    mine = db.session.scalar(select(SendBatch).where(SendBatch.task_id == offer.id))
    return {"queued": mine, "failed": failed}


def test_send_batches_list_with_labels_and_filters(app, admin_user, batches):
    admin = signed_in(app, "admin")
    html = html_of(admin.get("/admin/send_batches/"))
    queued, failed = batches["queued"], batches["failed"]
    assert cells(html, "id") == [str(failed.id), str(queued.id)]  # newest first
    assert cells(html, "status") == ["Failed", "Handed to the channel"]
    assert cells(html, "channel") == ["WeCom", "Inbox task"]
    assert cells(html, "origin") == ["SOP south [south]", "SOP care [care]"]
    assert cells(html, "step") == ["1", "1"]
    assert cells(html, "error") == ["errcode 41001: no token", ""]
    assert cells(html, "msgid") == ["", f"Task #{queued.task_id}"]
    assert cells(html, "sender") == ["Lisi (lisi)", "Zhangsan (zhangsan)"]
    # the filters are offered on the page and narrow the rows
    groups = json.loads(next(n for n in parse(html).walk()
                             if n.attrs.get("id") == "filter-groups-data").all_text())
    offered = {name: [o[0] for o in group[0]["options"]] for name, group in groups.items()
               if name in ("Status", "Channel")}
    assert offered == {"Status": ["planned", "sending", "queued", "done", "failed"],
                       "Channel": ["task", "wecom", "webhook"]}
    assert cells(html_of(admin.get("/admin/send_batches/?flt0_0=failed")), "id") == [
        str(failed.id)]
    assert cells(html_of(admin.get("/admin/send_batches/?flt0_1=task")), "id") == [
        str(queued.id)]
    assert cells(html_of(admin.get("/admin/send_batches/?flt0_0=done")), "id") == []
    # read-only: no create, edit or delete
    assert "/admin/send_batches/new/" not in html and "/admin/send_batches/edit/" not in html
    assert admin.post("/admin/send_batches/delete/", data={
        "id": str(queued.id), "csrf_token": csrf_token_from(html)}).status_code in (302, 403)
    db.session.expire_all()
    assert db.session.get(SendBatch, queued.id) is not None


def test_send_batch_details_count_its_deliveries_by_status(app, admin_user, batches, offer):
    admin = signed_in(app, "admin")
    press_done(signed_in(app, "zhang"), offer.id)
    html = html_of(admin.get(f"/admin/send_batches/details/?id={batches['queued'].id}"))
    counts = {n.attrs["data-status"]: n.all_text().strip() for n in parse(html).walk()
              if "delivery-count" in n.classes}
    assert counts == {"sent": "Sent: 3"}
    failed = html_of(admin.get(f"/admin/send_batches/details/?id={batches['failed'].id}"))
    assert {n.attrs["data-status"]: n.all_text().strip() for n in parse(failed).walk()
            if "delivery-count" in n.classes} == {"failed": "Failed: 1"}
    assert "errcode 41001: no token" in failed


def test_send_batches_are_for_admin_ops_and_the_senders_manager(app, batches):
    boss = signed_in(app, "boss")  # 华东销售: zhangsan's batches
    assert cells(html_of(boss.get("/admin/send_batches/")), "id") == [
        str(batches["queued"].id)]
    assert boss.get(f"/admin/send_batches/details/?id={batches['failed'].id}").status_code == 404
    make_user("ops", "ops")
    assert len(cells(html_of(signed_in(app, "ops").get("/admin/send_batches/")), "id")) == 2
    zhang = signed_in(app, "zhang")
    assert zhang.get("/admin/send_batches/").status_code == 403
    assert "/admin/send_batches/" not in menu_links(html_of(zhang.get("/admin/")))
    unlinked = make_user("lost", "manager")  # a manager without an employee sees none
    assert unlinked.employee_id is None
    assert cells(html_of(signed_in(app, "lost").get("/admin/send_batches/")), "id") == []
