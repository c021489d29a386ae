"""The tick as a whole: repeatable, unmoved by time going backwards, one at a time; and
the seed-003 sunscreen case end to end through the CLI and the REST API."""
from __future__ import annotations

import json
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from jobs.evaluator import tick
from jobs.tick_lock import tick_lock
from models import ApiToken, ChangeJournal, Delivery, Enrollment, db
from models.audit import acting_as
from tests.conftest import make_user
from tests.engine_support import (
    added, base, count, deliveries, doc, dump, enrolled, enrollment, events, journey, load,
    local, run_tick, send, sop, sop_row, stage_changed, step, tag_added, tags_of, tasks,
)

DEMO = Path(__file__).resolve().parents[1] / "seed" / "demo.yaml"
T0 = local(2025, 3, 1, 8)


@pytest.fixture(autouse=True)
def people():
    base()


# --- a world with some of everything ---------------------------------------------------------
WORLD = doc(
    sops=[
        sop("welcome", kind="new_customer", target={"sources": ["渠道活码"]},
            steps=[step(0), step(1, "09:00", "tag", add_tags=["新标签"]),
                   step(2, "10:00", "task", title="回访", assignee="owner", deadline_hours=24)],
            early_end={"when": {"tags_any": ["已复购"]}, "add_tags": ["提前结束"],
                       "flow_to": "care"}),
        sop("revisit", target={"stages": ["付费"]},
            steps=[step(0, "11:00"), step(1, "10:00", "stage", stage="忠实")],
            normal_end={"add_tags": ["回访完成"]}),
        sop("care", target={"tags_any": ["VIP"]}, steps=[step(1)]),
    ],
    journeys=[journey("dental", [
        {"key": "paid", "name": "付费", "rules": [{"stage": "付费"}]},
        {"key": "loyal", "name": "忠实", "rules": [{"stage": "忠实"}],
         "reminders": [{"day": 0, "hour": 15, "text": "感谢"}]},
        {"key": "extracted", "name": "拔牙后", "rules": [{"tags_any": ["拔牙"]}],
         "reminders": [{"day": 1, "hour": 9, "text": "注意事项"}]},
    ])])


def busy_world() -> None:
    """Customers in every SOP and the journey; changes waiting for the 3/2 10:00 tick."""
    load(WORLD, T0)
    events(*[added(f"fan{i}", tags=["拔牙"] if i % 2 else []) for i in range(6)],
           added("vip", source="线上广告", tags=["VIP"]), now=local(2025, 3, 1, 9))
    events(stage_changed("fan0", "付费"), stage_changed("vip", "付费"), now=local(2025, 3, 1, 9, 1))
    run_tick(local(2025, 3, 1, 9, 5))
    send(local(2025, 3, 1, 11))
    events(tag_added("fan1", "已复购"), stage_changed("fan2", "付费"), now=local(2025, 3, 2, 8))


def test_a_tick_run_twice_at_the_same_time_changes_nothing_the_second_time():
    busy_world()
    first = run_tick(local(2025, 3, 2, 10))
    assert first["ended_early"] == 1 and first["entered"] >= 1 and first["deliveries"] > 0
    before = dump()
    second = run_tick(local(2025, 3, 2, 10))
    assert dump() == before
    assert not any(second.get(k) for k in ("entered", "deliveries", "reminders", "ended_early",
                                            "completed", "internal_steps", "stage_moves"))


def test_time_going_backwards_undoes_and_repeats_nothing():
    busy_world()
    run_tick(local(2025, 3, 2, 10))
    send(local(2025, 3, 2, 10))
    run_tick(local(2025, 3, 3, 12))
    before = dump()
    assert count(Enrollment, Enrollment.status == "completed") > 0
    for earlier in (local(2025, 3, 1, 9), local(2025, 2, 1), local(2025, 3, 2, 10)):
        run_tick(earlier)
        send(earlier)
        assert dump() == before, earlier


def test_a_tick_while_another_holds_the_lock_is_skipped_and_writes_nothing():
    busy_world()
    db.session.commit()
    before = dump()
    db.session.commit()
    with tick_lock(db.engine) as held:
        assert held is True
        summary = tick(db.session, local(2025, 3, 2, 10))
        assert "skipped" in summary
    assert dump() == before
    assert count(ChangeJournal, ChangeJournal.processed_at.is_(None)) > 0
    assert "skipped" not in run_tick(local(2025, 3, 2, 10))  # released: the next one runs
    assert enrollment("welcome", "fan1").status == "ended_early"


def test_two_ticks_started_at_the_same_moment_do_the_work_once(app):
    load(doc([sop("vip", target={"tags_any": ["VIP"]}, steps=[step(0), step(0, "12:00")])]), T0)
    events(*[added(f"c{i}", tags=["VIP"]) for i in range(40)], now=local(2025, 3, 1, 9))
    db.session.commit()
    barrier, results, errors = threading.Barrier(2), [], []

    def worker():
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                results.append(tick(db.session, local(2025, 3, 2, 10)))
            except Exception as exc:  # noqa: BLE001  (reported below)
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and len(results) == 2
    ran = [r for r in results if "skipped" not in r]
    assert len(ran) in (1, 2)
    assert sum(r.get("entered", 0) for r in ran) == 40  # both ran: one after the other
    db.session.expire_all()
    assert count(Enrollment) == 40
    assert count(Delivery) == 80
    duplicates = db.session.execute(
        select(Delivery.enrollment_id, Delivery.step_id).group_by(
            Delivery.enrollment_id, Delivery.step_id).having(func.count() > 1)).all()
    assert duplicates == []


# --- seed 003: the sunscreen SOP end to end ---------------------------------------------------
def cli(app, *args) -> dict | str:
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["sop", *args])
    db.session.expire_all()
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.stdout


def cli_json(app, *args) -> dict:
    return json.loads(cli(app, *args))


def api_token() -> str:
    user = make_user("bot", "ops")
    with acting_as("test"):
        row, plain = ApiToken.issue(user)
        db.session.add(row)
        db.session.commit()
    return plain


def test_the_sunscreen_sop_from_the_product_manual_end_to_end(app, client):
    day0 = date(2025, 3, 1)

    def at(day: int, hour: int = 10, minute: int = 0):
        d = day0 + timedelta(days=day)
        return local(d.year, d.month, d.day, hour, minute)

    headers = {"Authorization": f"Bearer {api_token()}"}

    def post(*body):
        resp = client.post("/api/v1/events", json=list(body), headers=headers)
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    assert "imported" in cli(app, "import", str(DEMO), "--at", at(-1, 9).isoformat())
    assert sop_row("sunscreen-revisit").status == "initializing"
    started = cli_json(app, "tick", "--at", at(-1, 9, 5).isoformat())
    assert started["initialized"] == 3
    assert sop_row("sunscreen-revisit").status == "running"

    fans = [{"type": "customer_added", "external_id": x, "name": x, "source": "渠道活码",
             "owner": "LiNa", "tags": ["购买防晒正装"], "at": at(0, 9).isoformat()}
            for x in ("fan", "repurchaser")]
    assert post(*fans) == {"accepted": 2, "duplicates": 0}
    assert cli_json(app, "tick", "--at", at(0, 9, 10).isoformat())["entered"] == 2
    assert enrollment("sunscreen-revisit", "fan").day0 == day0

    for day in (5, 10, 15, 30, 40):
        if day == 15:  # 已复购 arrives on day 12: the next tick ends the SOP early
            post({"type": "tag_added", "external_id": "repurchaser", "tags": ["已复购"],
                  "at": at(12).isoformat()})
        summary = cli_json(app, "tick", "--at", at(day).isoformat())
        assert summary["at"] == at(day).isoformat()
        handed = cli_json(app, "send", "--at", at(day).isoformat())
        assert handed["deliveries"] == (2 if day in (5, 10) else 1), (day, handed)
    cli_json(app, "tick", "--at", at(40, 10, 5).isoformat())

    assert deliveries("sunscreen-revisit", "fan") == [
        (position, at(day), "queued") for position, day in enumerate((5, 10, 15, 30, 40))]
    fan = enrollment("sunscreen-revisit", "fan")
    assert (fan.status, fan.day0) == ("completed", day0)
    assert tags_of("fan")["SOP完成"] == "sop"
    assert {t.employee.userid for t in tasks(kind="send")} == {"LiNa"}

    assert deliveries("sunscreen-revisit", "repurchaser") == [
        (0, at(5), "queued"), (1, at(10), "queued")]
    ended = enrollment("sunscreen-revisit", "repurchaser")
    assert (ended.status, ended.ended_at) == ("ended_early", at(15))
    assert ended.flow_result.startswith("entered"), ended.flow_result
    assert tags_of("repurchaser")["提前结束"] == "sop"
    assert "SOP完成" not in tags_of("repurchaser")
    revisit = enrollment("revisit", "repurchaser")
    assert (revisit.status, revisit.flowed_from.key, revisit.day0) == (
        "active", "sunscreen-revisit", at(15).date())
    # revisit's day-15 task (day 0 = 3/16) came due at the day-30 tick
    followups = tasks(kind="step")
    assert [(t.title, t.employee.userid, t.due_at) for t in followups] == [
        ("第15天回访", "LiNa", at(30))]
    assert enrolled("sunscreen-revisit") == {"fan", "repurchaser"}
