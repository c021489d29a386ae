"""The SOP form: the shared config rules show on the fields, and a good save is versioned."""
import pytest
from sqlalchemy import func, select

from models import AuditLog, Material, Sop, SopStep, SopVersion, Tag, db
from models.audit import acting_as
from tests.conftest import post_form
from tests.test_admin_support import field_errors, flashed_errors, signed_in


@pytest.fixture
def admin_client(app, admin_user):
    """conftest's admin client, but each request with a fresh `g`, in English."""
    return signed_in(app, "admin")


NEW = "/admin/sops/new/"


def edit_url(sop: Sop) -> str:
    return f"/admin/sops/edit/?id={sop.id}"


def seed(*tags: str, materials: int = 0) -> list[Material]:
    with acting_as("test"):
        for name in tags:
            db.session.add(Tag(name=name))
        items = [Material(key=f"m{i}", kind="text", title=f"M{i}", content="x")
                 for i in range(materials)]
        db.session.add_all(items)
        db.session.commit()
    return items


def make_sop(key: str, kind: str = "nurture", status: str = "draft", **fields) -> Sop:
    with acting_as("test"):
        sop = Sop(key=key, name=key.title(), kind=kind, status=status, **fields)
        db.session.add(sop)
        db.session.commit()
    return sop


def sop_data(key="welcome", kind="new_customer", steps=(), **extra) -> dict:
    data = {"key": key, "name": "Welcome", "kind": kind, "priority": "0",
            "entry_window_hours": "24", "batch_size": "200", "batch_interval_minutes": "10",
            "conversion_days": "30", "holdout_percent": "0"}
    for i, step in enumerate(steps):
        for name, value in step.items():
            data[f"steps-{i}-{name}"] = value
    data.update(extra)
    return data


def message(day, at, text="hello", **extra) -> dict:
    return {"day": str(day), "at_time": at, "action": "message", "text": text, **extra}


def sop_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Sop))


def test_valid_sop_with_two_steps_is_saved_versioned_and_audited(admin_client):
    seed("vip")
    resp = post_form(admin_client, NEW, sop_data(
        steps=[message(3, "9:30", "later"), message(1, "10:00", "sooner")],
        target_tags_any="vip", target_sources="渠道活码,线上广告"))
    assert resp.status_code == 302, flashed_errors(resp.get_data(as_text=True))
    sop = db.session.scalar(select(Sop).where(Sop.key == "welcome"))
    assert sop.status == "draft"
    assert sop.target == {"sources": ["渠道活码", "线上广告"], "tags_any": ["vip"]}
    # positions follow (day, at), whatever order the form had; times are normalised
    assert [(s.position, s.day, s.at_time, s.text) for s in sop.steps] == [
        (0, 1, "10:00", "sooner"), (1, 3, "09:30", "later")]
    version = db.session.scalar(select(SopVersion).where(SopVersion.sop_id == sop.id))
    assert version.version == 1 and version.actor == "admin"
    assert version.snapshot["steps"][0]["text"] == "sooner"
    audited = {(a.object_type, a.action, a.actor)
               for a in db.session.scalars(select(AuditLog))}
    assert {("Sop", "create", "admin"), ("SopStep", "create", "admin")} <= audited


def test_editing_a_step_keeps_its_id_and_adds_a_version_with_a_diff(admin_client):
    post_form(admin_client, NEW, sop_data(steps=[message(1, "10:00", "first")]))
    sop = db.session.scalar(select(Sop))
    step_id = sop.steps[0].id
    resp = post_form(admin_client, edit_url(sop), sop_data(
        steps=[message(1, "10:00", "changed", id=str(step_id)), message(0, "08:00", "new")]))
    assert resp.status_code == 302, flashed_errors(resp.get_data(as_text=True))
    db.session.expire_all()
    steps = db.session.scalars(select(SopStep).order_by(SopStep.position)).all()
    assert [(s.position, s.text) for s in steps] == [(0, "new"), (1, "changed")]
    assert steps[1].id == step_id
    versions = db.session.scalars(select(SopVersion).order_by(SopVersion.version)).all()
    assert [v.version for v in versions] == [1, 2]
    assert "+  text: changed" in versions[1].diff and "-  text: first" in versions[1].diff


def test_deleted_step_is_not_validated_and_is_removed(admin_client):
    post_form(admin_client, NEW, sop_data(steps=[message(1, "10:00"), message(2, "10:00")]))
    sop = db.session.scalar(select(Sop))
    first, second = sop.steps
    # the step marked for deletion carries a bad day: it is skipped, not checked
    resp = post_form(admin_client, edit_url(sop), sop_data(
        steps=[message(-5, "10:00", id=str(first.id)), message(2, "10:00", id=str(second.id))],
        **{"del-steps-0": "on"}))
    assert resp.status_code == 302, flashed_errors(resp.get_data(as_text=True))
    db.session.expire_all()
    assert [(s.id, s.position) for s in db.session.scalars(select(SopStep))] == [
        (second.id, 0)]


def test_negative_day_is_refused_on_the_day_field(admin_client):
    resp = post_form(admin_client, NEW, sop_data(steps=[message(1, "10:00"),
                                                        message(-1, "10:00")]))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert field_errors(html, "steps-1-day") == ["must be ≥ 0"]
    assert field_errors(html, "steps-0-day") == []
    assert sop_count() == 0


def test_time_25_00_is_refused_on_the_at_field(admin_client):
    resp = post_form(admin_client, NEW, sop_data(steps=[message(0, "25:00")]))
    html = resp.get_data(as_text=True)
    assert field_errors(html, "steps-0-at_time") == ["must be a time HH:MM (00:00–23:59)"]
    assert sop_count() == 0


def test_ten_attachments_are_refused_on_the_attachments_field(admin_client):
    items = seed(materials=10)
    resp = post_form(admin_client, NEW, sop_data(
        steps=[message(0, "10:00", attachments=[str(m.id) for m in items])]))
    html = resp.get_data(as_text=True)
    assert field_errors(html, "steps-0-attachments") == ["at most 9 attachments"]
    assert sop_count() == 0 and db.session.scalar(select(func.count(SopStep.id))) == 0


def test_nine_attachments_are_fine(admin_client):
    items = seed(materials=9)
    resp = post_form(admin_client, NEW, sop_data(
        steps=[message(0, "10:00", attachments=[str(m.id) for m in items])]))
    assert resp.status_code == 302
    assert len(db.session.scalar(select(SopStep)).attachments) == 9


def test_flow_into_a_non_nurture_sop_is_refused_on_the_flow_field(admin_client):
    seed("bought")
    playbook = make_sop("complaint", kind="playbook")
    nurture = make_sop("care", kind="nurture")
    bad = post_form(admin_client, NEW, sop_data(
        early_end_tags_any="bought", early_end_flow_to=str(playbook.id)))
    assert field_errors(bad.get_data(as_text=True), "early_end_flow_to") == [
        "must be a nurture SOP ('complaint' is playbook)"]
    assert sop_count() == 2
    good = post_form(admin_client, NEW, sop_data(
        early_end_tags_any="bought", early_end_flow_to=str(nurture.id)))
    assert good.status_code == 302
    assert db.session.scalar(select(Sop).where(Sop.key == "welcome")).early_end_flow_to_id \
        == nurture.id


def test_early_end_without_condition_is_refused(admin_client):
    nurture = make_sop("care", kind="nurture")
    resp = post_form(admin_client, NEW, sop_data(normal_end_flow_to=str(nurture.id),
                                                 early_end_flow_to=str(nurture.id)))
    assert field_errors(resp.get_data(as_text=True), "early_end_tags_any") == [
        "an early end needs a condition"]


def test_an_sop_is_not_offered_as_its_own_flow_target(admin_client):
    sop = make_sop("care")
    other = make_sop("other")
    html = admin_client.get(edit_url(sop)).get_data(as_text=True)
    assert f'<option value="{other.id}"' in html
    assert f'<option value="{sop.id}"' not in html
    # a forged choice of itself is not among the offered ones, so it is not taken
    resp = post_form(admin_client, edit_url(sop), sop_data(key="care", kind="nurture",
                                                           normal_end_flow_to=str(sop.id)))
    db.session.expire_all()
    assert db.session.get(Sop, sop.id).normal_end_flow_to_id is None
    # ... and the form says so instead of saving a blank
    assert field_errors(resp.get_data(as_text=True), "normal_end_flow_to") == [
        "Not a valid choice"]


def test_running_sop_refuses_kind_and_target_changes_but_takes_step_edits(admin_client):
    seed("vip")
    sop = make_sop("care", kind="nurture", status="running", target={"tags_any": ["vip"]})
    kind = post_form(admin_client, edit_url(sop), sop_data(key="care", kind="new_customer",
                                                           target_tags_any="vip"))
    message_text = "can only change while the SOP is draft or paused (it is running)"
    assert field_errors(kind.get_data(as_text=True), "kind") == [message_text]
    target = post_form(admin_client, edit_url(sop), sop_data(key="care", kind="nurture"))
    html = target.get_data(as_text=True)
    assert field_errors(html, "target_tags_any") == [message_text]
    assert field_errors(html, "target_sources") == []
    db.session.expire_all()
    assert db.session.get(Sop, sop.id).kind == "nurture"
    assert db.session.get(Sop, sop.id).target == {"tags_any": ["vip"]}
    steps = post_form(admin_client, edit_url(sop), sop_data(
        key="care", kind="nurture", target_tags_any="vip", steps=[message(0, "10:00")]))
    assert steps.status_code == 302
    assert len(db.session.get(Sop, sop.id).steps) == 1


def test_paused_sop_may_change_kind_and_target(admin_client):
    seed("vip", "new")
    sop = make_sop("care", kind="nurture", status="paused", target={"tags_any": ["vip"]})
    resp = post_form(admin_client, edit_url(sop), sop_data(
        key="care", kind="new_customer", target_tags_any="new"))
    assert resp.status_code == 302, flashed_errors(resp.get_data(as_text=True))
    db.session.expire_all()
    stored = db.session.get(Sop, sop.id)
    assert (stored.kind, stored.target, stored.status) == ("new_customer",
                                                           {"tags_any": ["new"]}, "paused")


def test_status_and_key_cannot_be_changed_through_the_form(admin_client):
    sop = make_sop("care", status="paused")
    resp = post_form(admin_client, edit_url(sop), sop_data(key="renamed", kind="nurture",
                                                           status="running"))
    assert resp.status_code == 302
    db.session.expire_all()
    assert (db.session.get(Sop, sop.id).key, db.session.get(Sop, sop.id).status) == (
        "care", "paused")


def test_create_without_csrf_token_is_rejected_and_writes_nothing(admin_client):
    resp = admin_client.post(NEW, data=sop_data(steps=[message(0, "10:00")]))
    assert resp.status_code == 400
    assert sop_count() == 0


def test_sop_pages_render_for_admin(admin_client):
    seed("vip", materials=2)
    sop = make_sop("care", target={"tags_any": ["vip"], "sources": ["展会"]})
    new = admin_client.get(NEW)
    assert new.status_code == 200 and 'name="target_sources"' in new.get_data(as_text=True)
    edit = admin_client.get(edit_url(sop))
    html = edit.get_data(as_text=True)
    assert edit.status_code == 200
    assert '<option selected value="vip">' in html and 'value="展会"' in html
    assert admin_client.get(f"/admin/sops/details/?id={sop.id}").status_code == 200
    assert admin_client.get("/admin/sops/").status_code == 200


def test_only_draft_sops_can_be_deleted(admin_client):
    from tests.conftest import csrf_token_from

    running = make_sop("care", status="running")
    draft = make_sop("draft")
    token = csrf_token_from(admin_client.get("/admin/sops/").get_data(as_text=True))
    for sop in (running, draft):
        admin_client.post("/admin/sops/delete/", data={"id": sop.id, "csrf_token": token})
    db.session.expire_all()
    assert [s.key for s in db.session.scalars(select(Sop))] == ["care"]


def test_an_early_end_flow_into_itself_is_refused_on_the_field(admin_client):
    seed("bought")
    sop = make_sop("care", early_end_add_tags=["bought"])
    resp = post_form(admin_client, edit_url(sop), sop_data(
        key="care", kind="nurture", name="Renamed", early_end_tags_any="bought",
        early_end_flow_to=str(sop.id)))
    assert field_errors(resp.get_data(as_text=True), "early_end_flow_to") == [
        "Not a valid choice"]
    db.session.expire_all()
    assert db.session.get(Sop, sop.id).name == "Care"


@pytest.mark.parametrize("field, value", [("target_segment", "ghost"),
                                          ("steps-0-stage", "ghost"),
                                          ("steps-0-action", "dance")])
def test_a_name_that_is_not_offered_is_refused_on_its_field(admin_client, field, value):
    step = message(0, "10:00") | {"action": "stage"} if field == "steps-0-stage" \
        else message(0, "10:00")
    resp = post_form(admin_client, NEW, sop_data(steps=[step]) | {field: value})
    assert field_errors(resp.get_data(as_text=True), field) == ["Not a valid choice."]
    assert sop_count() == 0


def test_details_and_flow_choices_show_kind_and_status_labels(admin_client):
    target = make_sop("care", kind="nurture", status="running")
    sop = make_sop("welcome", kind="new_customer", normal_end_flow_to_id=target.id)
    details = admin_client.get(f"/admin/sops/details/?id={sop.id}").get_data(as_text=True)
    assert "New customer SOP" in details and "Draft" in details
    assert "Care [care] · Nurture SOP · Running" in details
    assert "new_customer" not in details and ">draft<" not in details
    form = admin_client.get(edit_url(sop)).get_data(as_text=True)
    assert "Care [care] · Nurture SOP · Running</option>" in form


def test_status_is_shown_by_its_label_and_cannot_be_posted(app):
    with acting_as("test"):
        db.session.add(Sop(key="care", name="Care", kind="nurture", status="running"))
        db.session.commit()
    from tests.conftest import make_user

    make_user("ops1", "ops")
    client = signed_in(app, "ops1")
    sop_id = db.session.scalar(select(Sop.id).where(Sop.key == "care"))
    page = client.get(f"/admin/sops/edit/?id={sop_id}").get_data(as_text=True)
    assert 'id="status"' in page and 'value="Running"' in page and 'value="running"' not in page
    post_form(client, f"/admin/sops/edit/?id={sop_id}", {"name": "Care", "status": "draft"})
    db.session.expire_all()
    assert db.session.scalar(select(Sop.status).where(Sop.key == "care")) == "running"
