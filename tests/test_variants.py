"""A/B variants of a message step (SPEC §10): a deterministic split that follows the
weights, the variant's own content sent, config round-trip, and the stats math."""
from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from config_io.importer import export_document
from jobs.core.effect import rate
from jobs.core.variants import compare, leader, pick
from jobs.enrollments import held_out
from jobs.variant_stats import variant_stats
from models import Delivery, Sop, Task, db
from tests.engine_support import (
    added, base, doc, events, import_problems, load, local, run_tick, send, sop, step,
)

VARIANTS = [{"key": "A", "text": "优惠券版", "attachments": [], "weight": 70},
            {"key": "B", "text": "故事版", "attachments": [], "weight": 30}]
T0 = local(2025, 3, 1, 8)


# --- pure ------------------------------------------------------------------------------
def test_the_split_is_deterministic_and_follows_the_weights():
    picks = [pick([70, 30], c, 3) for c in range(1, 10_001)]
    assert picks == [pick([70, 30], c, 3) for c in range(1, 10_001)]
    share = Counter(picks)[0] / len(picks)
    assert 0.67 < share < 0.73
    thirds = Counter(pick([1, 1, 1], c, 5) for c in range(1, 3001))
    assert all(900 < n < 1100 for n in thirds.values())


def test_the_split_does_not_follow_the_holdout():
    holdout = type("S", (), {"id": 3, "holdout_percent": 20})()
    messaged = [c for c in range(1, 10_001) if not held_out(holdout, c)]
    share = Counter(pick([50, 50], c, 3) for c in messaged)[0] / len(messaged)
    assert 0.47 < share < 0.53


def test_stats_math_by_hand():
    # A: 5 of 10 ordered; B: 0 of 10. Wilson 95 % for 5/10 is 0.5 ± 0.2634, for 0/10
    # [0, 0.2775]; Newcombe's difference 0.5 - sqrt(0.2634² + 0.2775²) = 0.1174 > 0.
    a, b = rate(5, 10), rate(0, 10)
    assert (a.low, a.high) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert (b.low, b.high) == pytest.approx((0.0, 0.2775), abs=1e-4)
    [ab] = compare({"A": a, "B": b})
    assert ab.lift.difference == pytest.approx(0.5)
    assert ab.lift.low == pytest.approx(0.1174, abs=1e-4)
    assert ab.ahead == "A" and leader([ab]) == "A"
    [close] = compare({"A": rate(3, 10), "B": rate(2, 10)})
    assert close.ahead is None and leader([close]) is None  # the interval still holds 0


# --- the engine -----------------------------------------------------------------------------
def ab_sop(**fields) -> dict:
    return sop("ab", target={"tags_any": ["VIP"]},
               steps=[step(0, key="hello", text="默认", variants=VARIANTS)], **fields)


def test_each_enrollment_gets_its_variant_and_its_content_is_sent():
    base()
    load(doc([ab_sop()]), T0)
    names = [f"c{i}" for i in range(12)]
    events(*[added(n, tags=["VIP"]) for n in names], now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))
    sop_id = db.session.scalar(select(Sop.id).where(Sop.key == "ab"))
    rows = db.session.scalars(select(Delivery).where(Delivery.sop_id == sop_id)).all()
    assert len(rows) == 12
    assert [d.variant for d in rows] == [
        "AB"[pick([70, 30], d.customer_id, sop_id)] for d in rows]  # SQL == pure rule
    assert {d.variant for d in rows} == {"A", "B"}
    send(local(2025, 3, 1, 10, 1))
    texts = {t.text: len(t.deliveries)
             for t in db.session.scalars(select(Task).where(Task.kind == "send"))}
    counts = Counter(d.variant for d in rows)
    assert texts == {"优惠券版": counts["A"], "故事版": counts["B"]}  # one batch per variant

    events(*[{"type": "order_placed", "external_id": d.customer.external_id,
              "order_id": f"o{d.id}", "amount": 10} for d in rows if d.variant == "A"],
           now=local(2025, 3, 3, 9))
    [stats] = variant_stats(db.session, db.session.get(Sop, sop_id))
    assert [(v.key, v.sent, v.conversion.converted) for v in stats.variants] == [
        ("A", counts["A"], counts["A"]), ("B", counts["B"], 0)]
    [ab] = stats.comparisons
    assert ab.lift.difference == pytest.approx(1.0)


def test_stats_api_reports_per_variant(app, client):
    from tests.test_api_engine import bearer

    base()
    load(doc([ab_sop()]), T0)
    events(*[added(f"c{i}", tags=["VIP"]) for i in range(6)], now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))
    send(local(2025, 3, 1, 10, 1))
    body = client.get("/api/v1/sops/ab/stats?at=2025-03-02T00:00:00%2B08:00",
                      headers=bearer("ops", "ops")).get_json()
    [step_stats] = body["variants"]
    assert [v["variant"] for v in step_stats["variants"]] == ["A", "B"]
    assert sum(v["sent"] for v in step_stats["variants"]) == 6
    assert step_stats["differences"][0]["variant"] == "A"
    listed = client.get("/api/v1/deliveries?sop=ab", headers=bearer("ops2", "ops")).get_json()
    assert {d["variant"] for d in listed} <= {"A", "B"} and len(listed) == 6


# --- config as code -------------------------------------------------------------------------
def test_variants_round_trip():
    base()
    load(doc([ab_sop(status="draft")]), T0)
    [exported] = export_document(db.session)["sops"]
    assert exported["steps"][0]["variants"] == [
        {"key": "A", "text": "优惠券版", "weight": 70}, {"key": "B", "text": "故事版", "weight": 30}]
    load({"sops": [exported]}, T0)
    assert export_document(db.session)["sops"] == [exported]


@pytest.mark.parametrize("variants, problem", [
    ([VARIANTS[0]], "sops[0].steps[0].variants: at least 2 variants"),
    ([VARIANTS[0]] * 2, "sops[0].steps[0].variants[1].key: duplicate key 'A'"),
    ([VARIANTS[0], {"key": "B", "weight": 0, "text": "x"}],
     "sops[0].steps[0].variants[1].weight: must be ≥ 1"),
    ([VARIANTS[0], {"key": "B", "text": "x", "attachments": ["nope"]}],
     "sops[0].steps[0].variants[1].attachments[0]: unknown material 'nope'"),
    ([VARIANTS[0], VARIANTS[1], {"key": "C", "text": "c"}, {"key": "D", "text": "d"},
      {"key": "E", "text": "e"}], "sops[0].steps[0].variants: at most 4 variants"),
])
def test_bad_variants_are_refused(variants, problem):
    base()
    bad = sop("ab", steps=[step(0, variants=variants)])
    assert problem in import_problems(doc([bad]), T0)


def test_only_message_steps_have_variants():
    base()
    bad = sop("ab", steps=[step(0, action="tag", add_tags=["VIP"], variants=VARIANTS)])
    assert import_problems(doc([bad]), T0) == [
        "sops[0].steps[0].variants: only a message step has variants"]


# --- the admin step form ---------------------------------------------------------------------
def test_variants_are_edited_inline_in_the_step_form(app, admin_user):
    from tests.conftest import post_form
    from tests.test_admin_sops import NEW, message, sop_data
    from tests.test_admin_support import field_errors, signed_in

    client = signed_in(app, "admin")
    yaml_text = "- {key: A, text: 优惠券版, weight: 70}\n- {key: B, text: 故事版, weight: 30}\n"
    resp = post_form(client, NEW, sop_data(steps=[message(0, "10:00", variants=yaml_text)]))
    assert resp.status_code == 302
    step_row = db.session.scalar(select(Sop)).steps[0]
    assert step_row.variants == [
        {"key": "A", "text": "优惠券版", "attachments": [], "weight": 70},
        {"key": "B", "text": "故事版", "attachments": [], "weight": 30}]
    page = client.get(f"/admin/sops/edit/?id={step_row.sop_id}").get_data(as_text=True)
    assert "优惠券版" in page
    for bad, error in (("- {key: A, text: x}\n", "at least 2 variants"),
                       ("- [unclosed", "Not valid YAML")):
        resp = post_form(client, NEW, sop_data(key="other", steps=[
            message(0, "10:00", variants=bad)]))
        assert resp.status_code == 200
        assert any(error in e for e in field_errors(resp.get_data(as_text=True),
                                                    "steps-0-variants"))
