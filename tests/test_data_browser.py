"""The data pages in a real browser (Debian's chromium through playwright): each page
draws its chart (an inline SVG, nothing fetched from the network) and its table.
With SOP_SCREENSHOTS=1 the pages are saved to docs/screenshots/."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import make_user
from tests.data_support import build_dental, build_promo
from tests.support.browser import outside_requests, sign_in

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


def test_each_data_page_shows_its_chart_and_table(page, live_server):
    promo = build_promo()
    journey = build_dental(promo)
    make_user("admin", "admin")
    requests_out = outside_requests(page, live_server)
    sign_in(page, "admin")
    page.goto("/lang/en")
    pages = {
        "data-sop": (f"/admin/sop_data/{promo['sop'].id}/", "table.funnel-table"),
        "data-journey": (f"/admin/journey_data/{journey.id}/", "table.stage-now"),
        "data-quota-calendar": ("/admin/quota_calendar/", "table.calendar-table"),
        "dashboard": ("/admin/", "div.dashboard-cards"),
    }
    for name, (url, table) in pages.items():
        page.goto(url)
        page.wait_for_load_state("networkidle")
        chart = page.locator("svg.data-chart").first
        assert chart.is_visible(), f"{name}: no chart"
        assert chart.bounding_box()["height"] > 50, f"{name}: the chart has no height"
        assert page.locator("svg.data-chart rect, svg.data-chart circle").count() > 0
        assert page.locator(table).is_visible(), f"{name}: no {table}"
        page.locator("details summary").first.click()  # the chart's numbers as a table
        assert page.locator("table.chart-table").first.is_visible()
        if os.environ.get("SOP_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    assert requests_out == [], f"pages fetched from the network: {requests_out}"
    # the SOP page's funnel: the first step's 10 deliveries, as written in the table
    page.goto(pages["data-sop"][0])
    assert page.locator("table.funnel-table tbody tr").first.locator("td").nth(1) \
        .inner_text() == "10"
