"""In a real browser (SPEC §6): a sales user sees today's follow-up, logs it, the task
closes and the next one appears."""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from jobs.evaluator import tick
from models import Customer, Employee, FollowUp, Task, db
from models.base import utcnow
from tests.conftest import make_user
from tests.engine_support import added, doc, events, load

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def due_today():
    load(doc(), utcnow() - timedelta(days=30))
    zhang = db.session.scalar(select(Employee).where(Employee.userid == "zhangsan"))
    make_user("zs", "sales", zhang)
    events(added("vip-1", name="华东大客户", annual_value=800_000),
           now=utcnow() - timedelta(days=7))  # high tier: due a week after being added
    tick(db.session, utcnow())
    db.session.expire_all()
    return db.session.scalar(select(Task).where(Task.rule == "cadence", Task.status == "open"))


@pytest.mark.browser
def test_a_sales_user_logs_todays_follow_up_and_the_next_one_appears(page, due_today):
    from tests.support.browser import sign_in

    sign_in(page, "zs")
    page.goto("/lang/en")
    page.goto("/admin/inbox/")
    card = page.locator(f"#today .inbox-task[data-task-id='{due_today.id}']")
    assert card.locator(".task-customer .customer-name").inner_text() == "华东大客户"

    with page.expect_navigation():
        card.locator(".task-log-followup").click()
    assert page.locator("h3").inner_text() == "Log a follow-up with 华东大客户"
    # A follow-up task opens a day ahead of its 09:00: before 09:00 the next one is today's
    local = utcnow().astimezone(SHANGHAI)
    next_day = local.date() + timedelta(days=1) if local.hour >= 9 else local.date()
    section = "#upcoming" if next_day > local.date() else "#today"
    page.select_option("#method", "visit")
    page.fill("#key_points", "演示了新产品，客户关注价格")
    page.fill("#feedback", "需要报价")
    page.fill("#next_date", next_day.isoformat())
    page.select_option("#outcome", "opportunity")
    with page.expect_navigation():
        page.locator("form.followup-form button[type=submit]").click()

    assert page.locator(".alert-success").inner_text().replace("×", "").strip() == \
        f"Follow-up logged. Next follow-up: {next_day.isoformat()} 09:00."
    assert page.locator(f".inbox-task[data-task-id='{due_today.id}']").count() == 0
    nxt = page.locator(f"{section} .inbox-task")
    assert nxt.count() == 1
    assert nxt.locator(".task-customer .customer-name").inner_text() == "华东大客户"
    assert f"{next_day:%m-%d} 09:00" in nxt.locator(".task-due").inner_text()

    db.session.expire_all()
    record = db.session.scalar(select(FollowUp))
    assert (record.method, record.feedback, record.outcome) == ("visit", "需要报价",
                                                                "opportunity")
    assert db.session.get(Task, due_today.id).status == "done"
    assert db.session.scalar(select(Customer)).followup_outcome == "opportunity"
