"""The SOP editor's steps ask the server before moving on: the same validation as a
save, nothing saved; the last step adds the dry run (who would enter, the sends)."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from models import Customer, Sop, SopStep, db
from models.audit import acting_as
from models.base import utcnow
from tests.conftest import csrf_token_from, post_form
from tests.test_admin_sops import NEW, edit_url, make_sop, message, sop_data
from tests.test_admin_support import signed_in

CHECK = "/admin/sops/check/"


@pytest.fixture
def admin_client(app, admin_user):
    return signed_in(app, "admin")


def check(client, query: str, data: dict):
    """POST the form to the editor's check, with a CSRF token from the create page."""
    token = csrf_token_from(client.get(NEW).get_data(as_text=True))
    return client.post(CHECK + query, data=data | {"csrf_token": token})


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_bad_day_at_step_two_is_named_by_field_and_nothing_is_saved(admin_client):
    resp = check(admin_client, "", sop_data(
        steps=[message(0, "10:00"), message(-1, "10:00")]))
    answer = resp.get_json()
    assert answer["ok"] is False
    assert answer["errors"] == {"steps-1-day": ["must be ≥ 0"]}
    assert "review" not in answer
    assert count(Sop) == 0 and count(SopStep) == 0


def test_the_review_previews_who_would_enter_and_the_sends(admin_client):
    with acting_as("test"):
        now = utcnow()
        db.session.add_all(Customer(external_id=f"c{i}", name=f"客户{i}",
                                    added_at=now - timedelta(hours=1)) for i in range(3))
        db.session.commit()
    resp = check(admin_client, "?review=1", sop_data(
        kind="nurture", steps=[message(0, "10:00", "欢迎"), message(2, "10:00", "回访")]))
    answer = resp.get_json()
    assert answer["ok"] is True and answer["errors"] == {}
    review = answer["review"]
    assert "Would enter now: 3 customers" in review
    assert "客户0" in review  # customers by name, not by id
    assert 'id="sop-review-calendar"' in review
    assert count(Sop) == 0 and count(SopStep) == 0 and count(Customer) == 3


def test_checking_an_edit_changes_nothing_stored(admin_client):
    post_form(admin_client, NEW, sop_data(steps=[message(1, "10:00", "first")]))
    sop = db.session.scalar(select(Sop))
    step_id = sop.steps[0].id
    resp = check(admin_client, f"?id={sop.id}&review=1", sop_data(
        steps=[message(3, "11:00", "changed", id=str(step_id)), message(0, "08:00", "new")]))
    answer = resp.get_json()
    assert answer["ok"] is True, answer
    assert "changed" in answer["review"]
    db.session.expire_all()
    assert [(s.id, s.day, s.text) for s in db.session.scalars(select(SopStep))] == [
        (step_id, 1, "first")]


def test_the_check_is_for_those_who_may_write(app, admin_client):
    sop = make_sop("welcome")
    sales = signed_in_as(app, "sales")
    token = csrf_token_from(sales.get("/admin/").get_data(as_text=True))
    resp = sales.post(CHECK + f"?id={sop.id}", data=sop_data() | {"csrf_token": token})
    assert resp.status_code == 403


def signed_in_as(app, role):
    from tests.conftest import make_user

    make_user(role, role)
    return signed_in(app, role)


def test_edit_page_pages_the_form_in_four_steps(admin_client):
    sop = make_sop("welcome")
    html = admin_client.get(edit_url(sop)).get_data(as_text=True)
    assert html.count('class="wizard-pane"') == 4
    assert 'id="sop-wizard-data"' in html and "sop_wizard.js" in html
    assert "<script>" not in html.split('id="sop-wizard-data"')[0].rsplit("<form", 1)[-1]


def chinese_client(app):
    from tests.conftest import login
    from tests.test_admin_support import fresh_client

    client = fresh_client(app)
    login(client, "admin")
    client.get("/lang/zh")
    return client


def script_data(html: str, element_id: str) -> dict:
    import json

    start = html.index(f'id="{element_id}">') + len(f'id="{element_id}">')
    return json.loads(html[start:html.index("</script>", start)])


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_the_editors_speak_chinese_in_chinese_mode(app, admin_user):
    """Every word the editors' scripts show comes translated (no English left)."""
    from tests.test_admin_journeys import journey_data, seed_tags, tags_rule

    client = chinese_client(app)
    sop = make_sop("welcome")
    wizard = script_data(client.get(edit_url(sop)).get_data(as_text=True), "sop-wizard-data")
    assert all(has_chinese(w) for w in wizard["words"].values()), wizard["words"]
    seed_tags("拔牙", "种牙", "补牙")
    post_form(client, "/admin/journeys/new/", journey_data(stages=[(
        [tags_rule("拔牙"), tags_rule("种牙", "补牙") + [{"kind": "stage", "value": "付费"}]],
        []), ([[{"kind": "churn_status", "value": "lost"}]], [])]))
    from models import Journey

    journey = db.session.scalar(select(Journey))
    state = script_data(client.get(f"/admin/journeys/edit/?id={journey.id}")
                        .get_data(as_text=True), "journey-editor-data")
    assert all(has_chinese(w) for w in state["words"].values()), state["words"]
    assert all(has_chinese(label) for _, label in
               state["choices"]["condition_kinds"] + state["choices"]["churn"])
    assert [s["sentence"] for s in state["stages"]] == [
        "有标签 拔牙 或 (有标签 种牙/补牙 且 阶段 付费)", "流失状态 已流失"]
