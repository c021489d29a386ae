"""Tags, segments and materials: checked by the catalogue rules, keys fixed, uses guarded."""
import io
import os

import pytest
from sqlalchemy import func, select

from models import Material, Segment, Sop, Tag, db
from models.audit import acting_as
from tests.conftest import csrf_token_from, make_employee, post_form
from tests.test_admin_support import field_errors, flashed_errors, signed_in


@pytest.fixture
def admin_client(app, admin_user):
    """conftest's admin client, but each request with a fresh `g`, in English."""
    return signed_in(app, "admin")


def add(*rows):
    with acting_as("test"):
        db.session.add_all(rows)
        db.session.commit()
    return rows


def delete(client, screen: str, row_id: int):
    token = csrf_token_from(client.get(f"/admin/{screen}/").get_data(as_text=True))
    resp = client.post(f"/admin/{screen}/delete/", data={"id": row_id, "csrf_token": token},
                       follow_redirects=True)
    return resp.get_data(as_text=True)


def test_tag_name_is_fixed_once_created_but_its_group_is_not(admin_client):
    resp = post_form(admin_client, "/admin/tags/new/", {"name": "vip", "group_name": "level"})
    assert resp.status_code == 302
    tag = db.session.scalar(select(Tag))
    edit = f"/admin/tags/edit/?id={tag.id}"
    assert 'readonly' in admin_client.get(edit).get_data(as_text=True)
    post_form(admin_client, edit, {"name": "renamed", "group_name": "tier"})
    db.session.expire_all()
    assert (tag.name, tag.group_name) == ("vip", "tier")


def test_duplicate_and_blank_tag_names_are_refused(admin_client):
    add(Tag(name="vip"))
    dup = post_form(admin_client, "/admin/tags/new/", {"name": "vip"})
    assert field_errors(dup.get_data(as_text=True), "name")
    blank = post_form(admin_client, "/admin/tags/new/", {"name": "  "})
    assert field_errors(blank.get_data(as_text=True), "name")
    assert db.session.scalar(select(func.count(Tag.id))) == 1


def test_a_tag_used_by_an_sop_cannot_be_deleted(admin_client):
    used, free = add(Tag(name="vip"), Tag(name="spare"))
    add(Sop(key="care", name="Care", kind="nurture", early_end_add_tags=["vip"]))
    page = delete(admin_client, "tags", used.id)
    assert "Still used by: SOP care" in page
    delete(admin_client, "tags", free.id)
    assert list(db.session.scalars(select(Tag.name))) == ["vip"]


def test_segment_filter_fields_become_its_json_filter(admin_client):
    add(Tag(name="vip"))
    make_employee("zhang")
    db.session.commit()
    resp = post_form(admin_client, "/admin/segments/new/", {
        "key": "east-vip", "name": "East VIP", "filter_tags_any": "vip",
        "filter_owners": "zhang", "filter_added_from": "2025-01-01",
        "filter_sources": "展会,线上广告"})
    assert resp.status_code == 302, flashed_errors(resp.get_data(as_text=True))
    segment = db.session.scalar(select(Segment))
    assert segment.filter == {"tags_any": ["vip"], "owners": ["zhang"],
                              "added_from": "2025-01-01", "sources": ["展会", "线上广告"]}
    page = admin_client.get(f"/admin/segments/edit/?id={segment.id}").get_data(as_text=True)
    assert 'value="2025-01-01"' in page and '<option selected value="vip">' in page


def test_segment_with_an_unknown_tag_is_refused_on_its_field(admin_client):
    resp = post_form(admin_client, "/admin/segments/new/", {
        "key": "x", "name": "X", "filter_tags_all": "ghost"})
    assert field_errors(resp.get_data(as_text=True), "filter_tags_all")
    assert db.session.scalar(select(func.count(Segment.id))) == 0


def test_segment_used_by_an_sop_target_cannot_be_deleted(admin_client):
    segment, = add(Segment(key="vip", name="VIP", filter={}))
    add(Sop(key="care", name="Care", kind="nurture", target={"segment": "vip"}))
    assert "Still used by: SOP care" in delete(admin_client, "segments", segment.id)
    assert db.session.scalar(select(func.count(Segment.id))) == 1


def test_link_material_needs_a_url(admin_client):
    resp = post_form(admin_client, "/admin/materials/new/", {
        "key": "guide", "kind": "link", "title": "Guide"})
    assert field_errors(resp.get_data(as_text=True), "url") == ["is required"]
    ok = post_form(admin_client, "/admin/materials/new/", {
        "key": "guide", "kind": "link", "title": "Guide", "url": "https://example.com/a"})
    assert ok.status_code == 302


def test_image_upload_is_stored_under_a_unique_name(app, admin_client):
    resp = post_form(admin_client, "/admin/materials/new/", {
        "key": "poster", "kind": "image", "title": "Poster",
        "file_path": (io.BytesIO(b"\x89PNG fake"), "海报.png")},
        content_type="multipart/form-data")
    assert resp.status_code == 302, flashed_errors(resp.get_data(as_text=True))
    material = db.session.scalar(select(Material))
    assert material.file_path.endswith(".png") and "/" not in material.file_path
    stored = os.path.join(app.config["UPLOAD_FOLDER"], material.file_path)
    with open(stored, "rb") as fh:
        assert fh.read() == b"\x89PNG fake"
    delete(admin_client, "materials", material.id)
    assert not os.path.exists(stored)


def test_upload_with_a_forbidden_extension_is_refused(admin_client):
    resp = post_form(admin_client, "/admin/materials/new/", {
        "key": "bad", "kind": "file", "title": "Bad",
        "file_path": (io.BytesIO(b"MZ"), "tool.exe")}, content_type="multipart/form-data")
    assert field_errors(resp.get_data(as_text=True), "file_path") == ["Invalid file extension"]
    assert db.session.scalar(select(func.count(Material.id))) == 0


def test_content_screens_are_closed_to_other_roles(app):
    from tests.conftest import login, make_user
    from tests.test_admin_support import fresh_client

    make_user("m", "manager")
    client = fresh_client(app)
    login(client, "m")
    for screen in ("tags", "segments", "materials"):
        assert client.get(f"/admin/{screen}/").status_code == 403
        assert client.get(f"/admin/{screen}/new/").status_code == 403


def test_a_tag_customers_carry_cannot_be_deleted(admin_client):
    from models import Customer, CustomerTag

    tag, = add(Tag(name="vip"))
    customers = add(Customer(external_id="c1", name="C1"), Customer(external_id="c2", name="C2"))
    add(*(CustomerTag(customer_id=c.id, tag_id=tag.id) for c in customers))
    page = delete(admin_client, "tags", tag.id)
    assert "2 customers carry this tag; remove it from them first." in page
    assert db.session.scalar(select(func.count()).select_from(CustomerTag)) == 2
    assert list(db.session.scalars(select(Tag.name))) == ["vip"]


def test_deleting_a_material_never_removes_a_file_outside_the_upload_folder(app, admin_client):
    folder = app.config["UPLOAD_FOLDER"]
    os.makedirs(folder, exist_ok=True)
    outside = os.path.join(os.path.dirname(os.path.realpath(folder)), "keep-me.txt")
    with open(outside, "w") as fh:
        fh.write("not an upload")
    escaping, = add(Material(key="evil", kind="file", title="Evil",
                             file_path="../keep-me.txt"))
    delete(admin_client, "materials", escaping.id)
    assert db.session.scalar(select(func.count(Material.id))) == 0
    assert os.path.exists(outside)
    # the same for the upload field's own "delete the file" box
    other, = add(Material(key="evil2", kind="text", title="Evil", content="x",
                          file_path="../keep-me.txt"))
    resp = post_form(admin_client, f"/admin/materials/edit/?id={other.id}", {
        "key": "evil2", "kind": "text", "title": "Evil", "content": "x",
        "_file_path-delete": "y"})
    assert resp.status_code == 302, flashed_errors(resp.get_data(as_text=True))
    db.session.expire_all()
    assert db.session.get(Material, other.id).file_path is None
    assert os.path.exists(outside)
    os.remove(outside)
