"""The console reads as ops staff speak (issue 16, "What was seen"): coded values by their
labels, Flask-Admin's stock words in our Chinese, one heading and a short title per page,
how much a list holds, every field error at the top of a failed save, and a favicon."""
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select

from admin_views import choices
from jobs.core import vocab as V
from models import Customer, Enrollment, Settings, Sop, SopStep, db
from models.audit import acting_as
from tests.conftest import post_form
from tests.test_admin_support import parse, signed_in


@pytest.fixture
def admin(app, admin_user):
    return signed_in(app, "admin")


@pytest.fixture
def admin_zh(app, admin_user):
    client = signed_in(app, "admin")
    client.get("/lang/zh")
    return client


def html_of(resp) -> str:
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def text_of(html: str) -> str:
    return " ".join(parse(html).all_text().split())


def make_sop(key: str, kind: str = "nurture", **fields) -> Sop:
    with acting_as("test"):
        sop = Sop(key=key, name=key.title(), kind=kind, status="draft", **fields)
        db.session.add(sop)
        db.session.commit()
    return sop


def options(html: str, select_id: str) -> list[tuple[str, str]]:
    select = next(n for n in parse(html).walk() if n.attrs.get("id") == select_id)
    return [(o.attrs.get("value"), o.all_text().strip()) for o in select.walk()
            if o.tag == "option"]


def test_every_stored_code_has_a_label():
    assert set(choices.EVENT_LABELS) == set(V.EVENT_TYPES)
    assert set(choices.PERIOD_LABELS) == set(V.QUOTA_PERIODS)
    assert set(choices.CHANNEL_LABELS) == set(V.CHANNELS)
    assert set(choices.ACTION_LABELS) == set(V.STEP_ACTIONS)


def test_sop_form_offers_events_by_name_and_an_empty_flow_that_reads_as_a_dash(admin):
    other = make_sop("nurture")
    sop = make_sop("welcome", kind="new_customer")
    html = html_of(admin.get(f"/admin/sops/edit/?id={sop.id}"))
    events = dict(options(html, "trigger_event"))
    assert events["customer_added"] == "Customer added"
    assert events["tag_added"] == "Tag added"
    flow = options(html, "normal_end_flow_to")
    assert flow[0] == ("__None", "—")  # the value stays Flask-Admin's; the text is a dash
    assert flow[1][0] == str(other.id)


def test_chinese_sop_form_and_lists_use_our_words_not_flask_admins(admin_zh):
    make_sop("welcome", kind="new_customer")
    html = html_of(admin_zh.get("/admin/sops/new/"))
    assert ("customer_added", "添加客户") in options(html, "trigger_event")
    listing = text_of(html_of(admin_zh.get("/admin/sops/")))
    assert "批量操作" in listing and "50 条/页" in listing
    assert "选中的" not in listing and "项目" not in listing
    assert "共 1 条" in listing


def test_the_title_names_the_page_once_and_the_heading_is_the_page(admin):
    html = html_of(admin.get("/admin/sops/"))
    title = next(n for n in parse(html).walk() if n.tag == "title").all_text()
    assert title == "SOPs - Customer SOP"
    assert headings_of(html) == ["SOPs"]  # the page, not the brand
    for url, name in (("/admin/sop_data/", "SOP data"), ("/admin/quota_calendar/",
                                                         "Quota calendar")):
        assert headings_of(html_of(admin.get(url))) == [name]


def headings_of(html: str) -> list[str]:
    """The page-level headings (h1, h2, h4; sections use h3 and h5)."""
    return [" ".join(n.all_text().split()) for n in parse(html).walk()
            if n.tag in ("h1", "h2", "h4")]


def test_quota_calendar_names_the_period_in_chinese(admin_zh):
    with acting_as("test"):
        Settings.get(db.session).quota_period = "week"
        db.session.commit()
    assert "每位客户每周 1 条" in text_of(html_of(admin_zh.get("/admin/quota_calendar/")))


def test_sop_data_page_names_steps_by_day_time_and_action(admin_zh):
    sop = make_sop("care", steps=[SopStep(position=0, day=15, at_time="10:00", action="task",
                                          task_title="call")])
    page = text_of(html_of(admin_zh.get(f"/admin/sop_data/{sop.id}/")))
    assert "第15天 10:00 任务" in page
    assert "day 15" not in page


def test_a_long_list_says_which_page_and_a_counted_list_its_total(admin):
    page = text_of(html_of(admin.get("/admin/audit_log/")))  # no COUNT(*) on the log
    assert "Page 1 · no total on this long list" in page
    make_sop("a")
    make_sop("b")
    assert "2 in all" in text_of(html_of(admin.get("/admin/sops/")))


def test_a_failed_save_lists_every_field_error_at_the_top_linked_to_its_field(admin):
    resp = post_form(admin, "/admin/sops/new/", {
        "key": "bad key!", "name": "Bad", "kind": "new_customer", "priority": "0",
        "entry_window_hours": "24", "batch_size": "200", "batch_interval_minutes": "10",
        "conversion_days": "30", "holdout_percent": "0",
        "steps-0-day": "1", "steps-0-at_time": "25:00", "steps-0-action": "message",
        "steps-0-text": "hi"})
    html = html_of(resp)
    box = next(n for n in parse(html).walk() if "form-problems" in n.classes)
    links = {a.attrs["href"]: a.all_text() for a in box.walk() if a.tag == "a"}
    assert set(links) == {"#key", "#steps-0-at_time"}
    assert links["#steps-0-at_time"].startswith("Step 1 · ")
    assert "must be a time HH:MM" in box.all_text()
    assert html.index("form-problems") < html.index('id="key"')  # above the form
    assert db.session.scalar(select(func.count()).select_from(Sop)) == 0


def test_enrollment_end_reasons_and_flow_results_read_as_sentences(admin):
    sop = make_sop("care")
    with acting_as("test"):
        customer = Customer(external_id="wm-1", name="Ada")
        db.session.add(customer)
        db.session.flush()
        db.session.add(Enrollment(
            sop_id=sop.id, customer_id=customer.id, status="ended_early",
            enrolled_at=datetime(2026, 1, 1, tzinfo=timezone.utc), day0=date(2026, 1, 1),
            ended_at=datetime(2026, 1, 2, tzinfo=timezone.utc), end_reason="early end rule",
            flow_result="skipped: already enrolled in nurture"))
        db.session.commit()
    page = text_of(html_of(admin.get("/admin/enrollments/")))
    assert "Early-end rule met" in page and "Skipped: already in nurture" in page
    assert "early end rule" not in page


def test_favicon_is_served(client):
    resp = client.get("/favicon.ico")
    assert resp.status_code == 200
    assert resp.data[:4] == b"\x00\x00\x01\x00"  # an ICO header

