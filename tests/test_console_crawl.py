"""Every page of the panel's menu, as admin in Chinese, shows no raw stored code: no
`__None`, no event type, period or action id, no engine reason in English (issue 16)."""
import re
from datetime import date, datetime, timedelta, timezone

import pytest

from jobs.core import vocab as V
from models import Customer, Enrollment, Segment, Sop, SopStep, Task, db
from models.audit import acting_as

pytestmark = pytest.mark.browser

RAW = ("__None", *V.EVENT_TYPES, *V.QUOTA_PERIODS, *V.STEP_ACTIONS, "reminder",
       "early end rule", "all steps done", "entered", "create", "update")
RAW_WORDS = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, RAW)) + r")(?![\w-])")


@pytest.fixture
def some_of_everything(admin_user):
    now = datetime.now(timezone.utc)
    with acting_as("test"):
        nurture = Sop(key="nurture", name="培育", kind="nurture", status="running")
        sop = Sop(key="welcome", name="欢迎", kind="playbook", status="running",
                  trigger_event="tag_added", early_end_flow_to=nurture,
                  steps=[SopStep(position=0, day=1, at_time="10:00", action="message",
                                 text="你好"),
                         SopStep(position=1, day=2, at_time="10:00", action="task",
                                 task_title="回访")])
        customer = Customer(external_id="wm-c1", name="王女士", tier="high")
        db.session.add_all([nurture, sop, customer,
                            Segment(key="vip", name="重点", filter={"tiers": ["high"]})])
        db.session.flush()
        db.session.add(Enrollment(sop_id=sop.id, customer_id=customer.id, status="ended_early",
                                  enrolled_at=now, day0=date.today(), ended_at=now,
                                  end_reason="early end rule", flow_result="entered nurture"))
        db.session.add(Task(kind="followup", status="open", title="跟进王女士", text="回访",
                            customer_id=customer.id, role="sales",
                            due_at=now - timedelta(days=2)))
        db.session.commit()


def test_no_page_of_the_menu_shows_a_raw_code_in_chinese(page, some_of_everything):
    from tests.support.browser import sign_in

    sign_in(page, "admin")
    page.goto("/lang/zh")
    page.goto("/admin/")
    links = page.eval_on_selector_all(
        "nav a[href^='/admin/']", "links => [...new Set(links.map(a => a.getAttribute('href')))]")
    assert len(links) > 20
    found = {}
    for url in links:
        if url.startswith("/admin/api_docs/"):  # the API's reference shows its wire codes
            continue
        page.goto(url)
        raw = sorted(set(RAW_WORDS.findall(page.inner_text("body"))))
        if raw:
            found[url] = raw
    assert found == {}
