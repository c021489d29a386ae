"""The data pages' counters (models/counters.py, kept by models/counter_triggers.py):
random sends, cancels, early and manual ends, holdouts, replays, journey moves, orders,
a changed conversion window and a deleted customer; after every step the counters equal
a recount from the rows, and the pages' figures from the counters equal those counted
from the rows. `flask sop stats rebuild` repairs and reports. SQLite and PostgreSQL."""
from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from jobs import analytics, lifecycle
from jobs.counters import counters_match, decide_conversions, rebuild
from jobs.ops_stats import dashboard, journey_stats
from models import Customer, Enrollment, Order, db
from models.audit import acting_as
from tests.engine_support import (
    added, base, customer, doc, events, journey, journey_row, load, local, run_tick, send, sop,
    sop_row, stage_changed, step, tag_added, tag_removed,
)

T0 = local(2025, 3, 1, 8)
PEOPLE = [f"k{i}" for i in range(12)]
STAGES = [
    {"key": "new", "name": "新用户", "rules": [{"stage": "潜在"}, {"stage": "新客户"}]},
    {"key": "paid", "name": "付费用户", "rules": [{"stage": "付费"}],
     "reminders": [{"day": 0, "hour": 10, "text": "欢迎"}]},
    {"key": "loyal", "name": "忠实用户", "rules": [{"stage": "忠实"}]},
]


def world() -> None:
    base()
    load(doc([sop("promo", target={"tags_any": ["VIP"]}, holdout_percent=30,
                  conversion_days=2, steps=[step(0), step(1), step(2, action="task", title="回访")],
                  early_end={"when": {"tags_any": ["已复购"]}})],
             [journey("dental", STAGES)]), T0)
    events(*[added(x, tags=["VIP"] if i % 3 else []) for i, x in enumerate(PEOPLE)],
           now=T0 + timedelta(minutes=1))


def links_wrong() -> int:
    """Placements whose came_from_stage_id / moved_on differ from their history."""
    return db.session.scalar(text("""
        SELECT COUNT(*) FROM journey_placements p WHERE
          COALESCE(p.came_from_stage_id, 0) <> COALESCE((SELECT q.stage_id FROM
            journey_placements q WHERE q.journey_id = p.journey_id AND q.customer_id =
            p.customer_id AND q.id < p.id ORDER BY q.id DESC LIMIT 1), 0)
          OR p.moved_on <> EXISTS (SELECT 1 FROM journey_placements q WHERE q.journey_id =
            p.journey_id AND q.customer_id = p.customer_id AND q.id > p.id)"""))


def assert_counted(now) -> None:
    db.session.commit()
    drift = counters_match(db.session)
    assert drift == dict.fromkeys(drift, 0)
    assert links_wrong() == 0
    # the pages' figures: from the counters (everyone) == from the rows (a scope of all)
    everyone = select(Customer.id)
    promo, dental = sop_row("promo"), journey_row("dental")
    tz = ZoneInfo("Asia/Shanghai")
    assert analytics.funnel(db.session, promo) == analytics.funnel(db.session, promo, everyone)
    assert (analytics.sends_per_day(db.session, promo, now, tz)
            == analytics.sends_per_day(db.session, promo, now, tz, visible=everyone))
    assert (analytics.conversion(db.session, promo, now, tz)
            == analytics.conversion(db.session, promo, now, tz, everyone))
    counted, rows = (journey_stats(db.session, dental, now, tz),
                     journey_stats(db.session, dental, now, tz, everyone))
    # "today, as of now": the counters include a placement made at this very instant
    # (the tick just ran at `now`), the rows count entered_at < now
    assert counted.stages == journey_stats(db.session, dental, now + timedelta(seconds=1), tz,
                                           everyone).stages
    assert counted.moves == rows.moves
    assert counted.employees == rows.employees
    assert dashboard(db.session, now, tz) == dashboard(db.session, now, tz, everyone)


def act(rng: random.Random, now, people: list[str]) -> str:
    """One random change through the product's own paths."""
    who = rng.choice(people)
    kind = rng.choice(["tick", "tick", "send", "send", "vip", "unvip", "early", "stage",
                       "end", "replay", "order", "window", "delete"])
    promo = sop_row("promo")
    if kind == "tick":
        run_tick(now)
    elif kind == "send":
        run_tick(now)
        send(now)
    elif kind in ("vip", "unvip", "early"):
        change = tag_removed if kind == "unvip" else tag_added
        events(change(who, "已复购" if kind == "early" else "VIP"), now=now)
    elif kind == "stage":
        events(stage_changed(who, rng.choice(["潜在", "新客户", "付费", "忠实"])), now=now)
    elif kind in ("end", "replay"):
        row = db.session.scalar(select(Enrollment).join(Customer).where(
            Enrollment.sop_id == promo.id, Customer.external_id == who))
        if row is None:
            return "none"
        with acting_as("test"):
            if kind == "end" and row.status == "active":
                lifecycle.end_customers(db.session, promo, [row.customer_id], now)
            elif kind == "replay" and row.status != "active":
                lifecycle.enroll_by_hand(db.session, promo, row.customer, now)
            else:
                return "none"
    elif kind == "order":
        db.session.add(Order(order_id=f"o{rng.random()}", customer_id=customer(who).id,
                             amount=Decimal(10), placed_at=now - timedelta(hours=rng.randint(0, 30))))
    elif kind == "window":
        promo.conversion_days = rng.choice([1, 2, 3])
    elif kind == "delete":
        db.session.execute(text("DELETE FROM customers WHERE external_id = :x"), {"x": who})
        events(added(who), now=now)  # back as a new customer
    decide_conversions(db.session, now)
    db.session.commit()
    db.session.expire_all()
    return kind


@pytest.mark.parametrize("seed", [7, 2024])
def test_counters_equal_a_recount_after_every_random_change(seed):
    world()
    rng, now = random.Random(seed), T0 + timedelta(minutes=5)
    assert_counted(now)
    done = []
    for _ in range(40):
        now += timedelta(hours=rng.choice([1, 3, 7, 20]), minutes=rng.randint(0, 59))
        done.append(act(rng, now, PEOPLE))
        assert_counted(now)
    # the walk did reach the interesting states
    assert {"send", "end", "replay", "early", "order", "delete"} <= set(done), done
    statuses = {s for (s,) in db.session.execute(text("SELECT DISTINCT status FROM deliveries"))}
    assert {"queued", "skipped"} <= statuses  # sent, and the holdout's


def test_rebuild_repairs_what_drifted_and_says_so(app):
    world()
    run_tick(T0 + timedelta(minutes=5))
    events(*[tag_added(x, "VIP") for x in PEOPLE[:6]], now=T0 + timedelta(minutes=6))
    run_tick(T0 + timedelta(minutes=7))
    assert rebuild(db.session)["delivery_counts"]["fixed"] == 0
    db.session.execute(text("UPDATE delivery_counts SET n = n + 5"))
    db.session.execute(text("DELETE FROM customer_hours"))
    db.session.commit()
    report = rebuild(db.session)
    assert report["delivery_counts"]["fixed"] == report["delivery_counts"]["keys"] > 0
    assert report["customer_hours"]["fixed"] > 0
    assert set(counters_match(db.session).values()) == {0}
    assert sum(t["fixed"] for t in rebuild(db.session).values()) == 0  # idempotent
    # the command, one SOP
    db.session.execute(text("UPDATE delivery_counts SET n = n + 1"))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["sop", "stats", "rebuild", "--sop", "promo"])
    assert result.exit_code == 0, result.output
    assert '"delivery_counts": {"fixed": ' in result.output
    assert set(counters_match(db.session).values()) == {0}
    missing = app.test_cli_runner().invoke(args=["sop", "stats", "rebuild", "--sop", "nope"])
    assert missing.exit_code != 0 and "nope" in missing.output
