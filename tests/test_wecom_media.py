"""Attachments as WeCom media (issue 15): files go up with `media/upload` once, the media
id is cached and uploaded again when its 3 days are up (or when WeCom no longer knows
it: 40007); a material WeCom would refuse is refused when it is saved."""
from __future__ import annotations

import io
import os
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from jobs.channels import channel_for
from jobs.core.media import MB, is_fresh, upload_problem
from jobs.queues import redis_connection
from jobs.sender import send_due
from models import Material, db
from tests.conftest import post_form
from tests.engine_support import (
    added, delivery_rows, doc, events, import_problems, load, local, run_tick, sop, step,
)
from tests.support.fake_wecom import FakeWeCom
from tests.test_admin_support import field_errors, signed_in

START = local(2025, 3, 1, 8)
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


@pytest.fixture
def wecom(app):
    with FakeWeCom().start() as server:
        redis_connection(app).flushdb()
        yield server


def test_limits_and_lifetime():
    assert upload_problem("image", "a.png", 2 * MB) is None
    assert upload_problem("image", "a.gif", 10)[1]["ext"] == "gif"
    assert upload_problem("image", "a.jpg", 11 * MB)[1]["most"] == 10
    assert upload_problem("file", "a.pdf", 19 * MB) is None
    assert upload_problem("file", "a.zip", 21 * MB)[1]["most"] == 20
    assert upload_problem("file", "a.pdf", 5)[1]["n"] == 5
    assert upload_problem("miniprogram", "cover.webp", 10)[1]["kind"] == "miniprogram"
    assert upload_problem("link", "a.exe", 10**9) is None
    at = datetime(2025, 3, 1, 2)
    assert is_fresh(at, at + timedelta(days=2, hours=22))
    assert not is_fresh(at, at + timedelta(days=2, hours=23, minutes=30))  # renewed early
    assert not is_fresh(None, at)


def set_up(app, wecom):
    folder = app.config["UPLOAD_FOLDER"]
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "poster.png"), "wb") as handle:
        handle.write(PNG)
    settings = {"channel": "wecom", "quota": {"limit": 5, "period": "day"},
                "wecom": {"corp_id": wecom.corp_id, "secret": wecom.secret,
                          "api_base_url": wecom.base_url}}
    document = doc([sop("care", target={"tags_any": ["VIP"]},
                        batch={"size": 200, "interval_minutes": 0},
                        steps=[step(0, "10:00", text="海报", attachments=["poster", "mp"]),
                               step(4, "10:00", text="再看海报", attachments=["poster"])])],
                   settings=settings)
    document["materials"] = [
        {"key": "poster", "kind": "image", "title": "海报", "file": "poster.png"},
        {"key": "mp", "kind": "miniprogram", "title": "小程序", "content": "wx123",
         "url": "pages/index", "file": "poster.png"}]
    load(document, START)
    events(added("c1", tags=["VIP"]), now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))


def send(app, wecom, now):
    wecom.clock = lambda: now.timestamp()  # WeCom's clock agrees with the product's
    result = send_due(db.session, now, lambda name: channel_for(name, app))
    db.session.expire_all()
    return result


def uploads(wecom) -> int:
    return sum(1 for r in wecom.requests_log if r["path"].endswith("media/upload"))


def test_attachments_go_as_media_and_are_uploaded_again_after_three_days(app, wecom):
    set_up(app, wecom)
    assert send(app, wecom, local(2025, 3, 1, 10))["queued"] == 1
    [first] = wecom.messages
    parts = {a["msgtype"]: a for a in first["attachments"]}
    image, card = parts["image"], parts["miniprogram"]
    assert image["image"]["media_id"] in wecom.media
    assert card["miniprogram"]["pic_media_id"] in wecom.media
    assert card["miniprogram"]["appid"] == "wx123"
    assert uploads(wecom) == 2  # one per material
    poster = db.session.scalar(select(Material).where(Material.key == "poster"))
    assert poster.media_uploaded_at == local(2025, 3, 1, 10)

    run_tick(local(2025, 3, 5, 9))  # day 4: the cached id is four days old
    assert send(app, wecom, local(2025, 3, 5, 10))["queued"] == 1
    second = wecom.messages[1]["attachments"][0]["image"]["media_id"]
    assert uploads(wecom) == 3 and second != image["image"]["media_id"]
    assert [d.status for d in delivery_rows("c1")] == ["queued", "queued"]


def test_a_media_id_wecom_no_longer_knows_is_uploaded_again(app, wecom):
    set_up(app, wecom)
    wecom.clock = lambda: local(2025, 2, 20).timestamp()
    poster = db.session.scalar(select(Material).where(Material.key == "poster"))
    poster.media_id = wecom._media_upload({"type": "image", "name": "p.png", "data": PNG})[1][
        "media_id"]  # uploaded ten days ago by WeCom's clock ...
    poster.media_uploaded_at = local(2025, 3, 1, 9)  # ... an hour ago by ours
    stale = poster.media_id
    db.session.commit()
    assert send(app, wecom, local(2025, 3, 1, 10))["queued"] == 1
    refused = [r for r in wecom.requests_log if r["response"].get("errcode") == 40007]
    assert len(refused) == 1 and len(wecom.messages) == 1
    sent = {a["msgtype"]: a for a in wecom.messages[0]["attachments"]}
    renewed = db.session.scalar(select(Material.media_id).where(Material.key == "poster"))
    assert sent["image"]["image"]["media_id"] == renewed != stale


# --- refused when saved ---------------------------------------------------------------------
def material_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Material))


@pytest.mark.parametrize("name, size, error", [
    ("poster.gif", 100, "JPG/JPEG/PNG only"),
    ("poster.png", 10 * MB + 1, "up to 10 MB"),
    ("poster.png", 3, "more than 5 bytes"),
])
def test_an_image_wecom_would_refuse_is_refused_on_save(app, admin_user, name, size, error):
    client = signed_in(app, "admin")
    resp = post_form(client, "/admin/materials/new/", {
        "key": "poster", "kind": "image", "title": "海报",
        "file_path": (io.BytesIO(b"x" * size), name)}, content_type="multipart/form-data")
    assert resp.status_code == 200
    assert any(error in e for e in field_errors(resp.get_data(as_text=True), "file_path"))
    assert material_count() == 0


def test_a_good_file_is_saved(app, admin_user):
    client = signed_in(app, "admin")
    resp = post_form(client, "/admin/materials/new/", {
        "key": "manual", "kind": "file", "title": "手册",
        "file_path": (io.BytesIO(b"%PDF-1.4 " + b"0" * 100), "manual.pdf")},
        content_type="multipart/form-data")
    assert resp.status_code == 302 and material_count() == 1


def test_config_refuses_an_image_of_the_wrong_type():
    problems = import_problems({"materials": [
        {"key": "p", "kind": "image", "title": "P", "file": "poster.gif"}]}, START)
    assert problems == ["materials[0].file: WeCom takes image files as JPG/JPEG/PNG only, "
                        "not 'gif'"]
