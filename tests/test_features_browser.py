"""The work calendar screen and the A/B variant section of the SOP data page in a real
browser (Debian's chromium through playwright). With SOP_SCREENSHOTS=1 both are saved
to docs/screenshots/ at 1440 px."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from models import Delivery, Sop, db
from tests.conftest import make_user
from tests.engine_support import added, base, doc, events, load, local, run_tick, send, sop, step
from tests.support.browser import sign_in

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
VARIANTS = [{"key": "A", "text": "满减券", "weight": 50}, {"key": "B", "text": "使用心得", "weight": 50}]


def shoot(page, name: str, locator=None) -> None:
    if os.environ.get("SOP_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = locator if locator is not None else page
        kwargs = {} if locator is not None else {"full_page": True}
        target.screenshot(path=str(SCREENSHOTS / f"{name}.png"), **kwargs)


def test_calendar_screen_and_variant_section(page):
    base()
    load(doc([sop("ab", name="复购激励", target={"tags_any": ["VIP"]},
                  steps=[step(0, key="hello", text="默认", variants=VARIANTS)])],
             settings={"calendar": {"holidays": ["2027-01-01"], "workdays": []}}),
         local(2025, 3, 1, 8))
    events(*[added(f"c{i}", tags=["VIP"]) for i in range(60)], now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))
    send(local(2025, 3, 1, 10, 1))
    sop_id = db.session.scalar(select(Sop.id).where(Sop.key == "ab"))
    buyers = [d.customer.external_id for d in db.session.scalars(
        select(Delivery).where(Delivery.sop_id == sop_id)) if d.variant == "A"][:20]
    events(*[{"type": "order_placed", "external_id": x, "order_id": f"o-{x}", "amount": 99}
             for x in buyers], now=local(2025, 3, 3, 9))
    make_user("admin", "admin")
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, "admin")

    page.goto("/admin/work_calendar/?sort=0&desc=1")
    rows = page.locator("table.model-list tbody tr")
    assert rows.count() > 10
    assert "2027-01-01" in rows.first.inner_text()
    assert page.locator(".alert-warning").count() == 0 or "2027" not in \
        page.locator(".alert-warning").first.inner_text()
    shoot(page, "work-calendar")

    page.goto(f"/admin/sop_data/{sop_id}/")
    section = page.locator("section.sop-variants")
    assert section.is_visible()
    cells = section.locator("table.variants-table tbody tr").all_inner_texts()
    assert [c.split()[0] for c in cells] == ["A", "B"]
    assert "A" in section.locator(".variant-leader").inner_text()  # 20 orders against none
    shoot(page, "data-sop-variants", section)
