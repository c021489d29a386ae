"""The group-send form in a real browser (Debian's chromium through playwright): the live
character count (a static script, no inline one), the preview's counts, confirm, the
list. With SOP_SCREENSHOTS=1 the form and the list are saved to
docs/screenshots/group-send-*.png at 1440 px wide, in Chinese."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import make_user
from tests.engine_support import added, doc, events, load, local
from tests.support.browser import sign_in

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


@pytest.fixture
def zh_page(browser, live_server):
    """A 1440 px wide tab whose browser speaks Chinese (the date input's own words)."""
    from tests.support.browser import TIMEOUT_MS

    context = browser.new_context(base_url=live_server, locale="zh-CN",
                                  viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def test_compose_preview_confirm_and_list(zh_page):
    page = zh_page
    document = doc(settings={"quota": {"limit": 1, "period": "day"}})
    document["materials"] = [{"key": "d12-poster", "kind": "link", "title": "双十二活动海报",
                              "url": "https://example.com/d12"}]
    load(document, local(2025, 3, 1, 8))
    events(*[added(f"vip-{i}", name=name, tags=["VIP"])
             for i, name in enumerate(("王女士", "李先生", "赵女士"))],
           added("lisi-1", owner="lisi", name="孙先生", tags=["VIP"]),
           now=local(2025, 3, 1, 9))
    make_user("ops", "ops")
    sign_in(page, "ops")
    page.goto("/admin/group_sends/new/")
    page.fill("#text", "双十二会员专享：全场八折")
    assert re.search(r"12 字 · 36 / 4000 字节", page.inner_text("#text-count"))
    page.select_option("#tags_any", "VIP", force=True)
    page.select_option("#attachments", "d12-poster", force=True)
    page.fill("#priority", "5")
    page.click("button.preview-button")
    page.wait_for_selector("div.group-send-preview")
    assert page.inner_text("td.matched") == "4"
    assert page.inner_text("td.no-owner") == "0"
    assert int(page.inner_text("td.today")) + int(page.inner_text("td.deferred")) == 4
    assert page.input_value("#text") == "双十二会员专享：全场八折"  # kept for the confirm
    if os.environ.get("SOP_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "group-send-form.png"), full_page=True)
    page.click("button.confirm")
    page.wait_for_url(re.compile(r"/admin/group_sends/$"))
    row = page.locator("table.group-send-list tbody tr").first
    assert "双十二会员专享" in row.inner_text()
    assert row.locator("td.status-pending").inner_text() == "4"
    if os.environ.get("SOP_SCREENSHOTS") == "1":
        page.screenshot(path=str(SCREENSHOTS / "group-send-list.png"), full_page=True)
    row.locator("a").first.click()
    page.wait_for_selector("table.funnel-table")
    assert page.locator("td.status-pending").inner_text() == "4"
