"""The group-send screens: compose with a preview before confirming, the list with its
per-status counts, the data page; ops reach everyone, a manager their department."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from jobs.queues import TICK_QUEUE, queue
from models import AuditLog, Delivery, Employee, GroupSend, db
from tests.conftest import csrf_token_from, login, make_user, post_form
from tests.engine_support import added, doc, events, load, local

URL = "/admin/group_sends/new/"


@pytest.fixture(autouse=True)
def empty_tick_queue(app):
    yield
    queue(app, TICK_QUEUE).empty()


@pytest.fixture
def world():
    load(doc(settings={"quota": {"limit": 1, "period": "day"}}), local(2025, 3, 1, 8))
    events(added("z1", tags=["VIP"]), added("z2", tags=["VIP"]),
           added("l1", owner="lisi", tags=["VIP"]), now=local(2025, 3, 1, 9))


def form(key="gs-a", **fields):
    return {"key": key, "text": "双十二会员专享", "tags_any": ["VIP"], "priority": "2",
            "batch_size": "200", "batch_interval": "0", **fields}


def confirm(client, data):
    """Preview, then confirm what was previewed (as the button on the preview does)."""
    shown = post_form(client, URL, {**data, "preview": "1"}).get_data(as_text=True)
    previewed = re.search(r'name="previewed" value="([0-9a-f]+)"', shown).group(1)
    return post_form(client, URL, {**data, "confirm": "1", "previewed": previewed})


def test_ops_previews_first_then_confirms_and_sees_it_in_the_list(client, world):
    make_user("ops", "ops")
    login(client, "ops")
    page = client.get(URL).get_data(as_text=True)
    assert 'id="text-count"' in page and "group_send.js" in page and "<script>" not in page
    shown = post_form(client, URL, form(preview="1")).get_data(as_text=True)
    assert 'class="text-right matched">3<' in shown and 'name="confirm"' in shown
    assert db.session.scalar(select(func.count(GroupSend.id))) == 0  # preview wrote nothing
    changed = post_form(client, URL, form(text="改了", confirm="1", previewed="0" * 64))
    assert 'name="confirm"' in changed.get_data(as_text=True)  # a new preview, not a send
    assert db.session.scalar(select(func.count(GroupSend.id))) == 0
    done = confirm(client, form())
    assert done.status_code == 302
    stored = db.session.scalar(select(GroupSend))
    assert (stored.key, stored.matched, stored.created_by) == ("gs-a", 3, "ops")
    assert db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.object_type == "GroupSend", AuditLog.actor == "ops")) == 1
    listing = client.get("/admin/group_sends/").get_data(as_text=True)
    assert "gs-a" in listing and 'class="text-right status-pending">3<' in listing
    data = client.get(f"/admin/group_sends/{stored.id}/").get_data(as_text=True)
    assert 'class="text-right status-pending">3<' in data
    filtered = client.get(f"/admin/deliveries/?flt0_7={stored.id}").get_data(as_text=True)
    assert filtered.count("双十二") >= 3


def test_bad_input_shows_the_problems_and_writes_nothing(client, world):
    make_user("ops", "ops")
    login(client, "ops")
    page = post_form(client, URL, form(key="bad key!", text="", confirm="1",
                                       batch_size="0")).get_data(as_text=True)
    assert db.session.scalar(select(func.count(GroupSend.id))) == 0
    assert db.session.scalar(select(func.count(Delivery.id))) == 0
    assert "is required" in page or "必填" in page or "不能为空" in page


def test_a_manager_reaches_only_their_department_and_sees_its_counts(client, world):
    lisi = db.session.scalar(select(Employee).where(Employee.userid == "lisi"))
    make_user("boss", "manager", lisi)  # 华南销售: only l1
    login(client, "boss")
    shown = post_form(client, URL, form(preview="1")).get_data(as_text=True)
    assert 'class="text-right matched">1<' in shown
    assert confirm(client, form()).status_code == 302
    customers = db.session.scalars(select(Delivery.customer_id)).all()
    assert len(customers) == 1
    listing = client.get("/admin/group_sends/").get_data(as_text=True)
    assert 'class="text-right status-pending">1<' in listing


def test_sales_may_not_open_it(client, world):
    make_user("li", "sales")
    login(client, "li")
    assert client.get(URL).status_code == 403
    assert client.get("/admin/group_sends/").status_code == 403


def test_the_maker_cancels_from_the_data_page_and_another_manager_may_not(client, world):
    lisi = db.session.scalar(select(Employee).where(Employee.userid == "lisi"))
    make_user("boss", "manager", lisi)
    login(client, "boss")
    assert confirm(client, form()).status_code == 302
    stored = db.session.scalar(select(GroupSend))
    url = f"/admin/group_sends/{stored.id}/"
    page = client.get(url).get_data(as_text=True)
    assert "cancel-group-send" in page
    token = csrf_token_from(page)
    assert client.post(f"{url}cancel/", data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(GroupSend.status)) == "cancelled"
    assert {d.status for d in db.session.scalars(select(Delivery))} == {"cancelled"}
    zhang = db.session.scalar(select(Employee).where(Employee.userid == "zhangsan"))
    make_user("other", "manager", zhang)
    other = client.application.test_client()
    login(other, "other")
    token = csrf_token_from(other.get(url).get_data(as_text=True))
    assert other.post(f"{url}cancel/", data={"csrf_token": token}).status_code == 403
