"""jobs/preview.py: who would enter an SOP now and its send calendar, writing nothing.

Expected figures are worked out by hand in each test (Asia/Shanghai, 1 message a day).
"""
from __future__ import annotations

import copy
from datetime import datetime

import pytest
from sqlalchemy import delete, func, select

from jobs.evaluator import tick
from jobs.events import apply_events
from tests.engine_support import send
from jobs.preview import preview
from models import Delivery, Enrollment, Settings, Sop, Tag, db
from models.audit import acting_as
from config_io.importer import import_document

STEPS = [
    {"day": 0, "at": "10:00", "action": "message", "text": "欢迎"},
    {"day": 0, "at": "15:00", "action": "message", "text": "介绍"},
    {"day": 2, "at": "09:00", "action": "task", "title": "回访电话", "assignee": "owner"},
    {"day": 2, "at": "10:00", "action": "message", "text": "优惠"},
    {"day": 3, "at": "10:00", "action": "tag", "add_tags": ["培育中"]},  # not on the calendar
]
BASE = {
    "settings": {"timezone": "Asia/Shanghai", "quota": {"limit": 1, "period": "day"}},
    "employees": [{"userid": "zhangsan", "name": "张三", "department": "华东销售"},
                  {"userid": "lisi", "name": "李四", "department": "华北销售"}],
    "tags": [{"name": "VIP"}, {"name": "已复购"}, {"name": "培育中"}],
}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def set_up(*sops, now="2025-03-01T08:00:00+08:00") -> None:
    doc = copy.deepcopy(BASE) | {"sops": list(sops)}
    with acting_as("test"):
        assert [str(p) for p in import_document(db.session, doc, at(now))] == []
    db.session.commit()


def care(**changes) -> dict:
    sop = {"key": "care", "name": "培育", "kind": "nurture", "status": "draft",
           "target": {"tags_any": ["VIP"]}, "early_end": {"when": {"tags_any": ["已复购"]}},
           "steps": copy.deepcopy(STEPS)}
    return sop | changes


def add(external_id: str, when: str, owner="zhangsan", **fields) -> None:
    apply_events(db.session, {"type": "customer_added", "external_id": external_id,
                              "name": external_id, "owner": owner, "at": when, **fields},
                 at(when))


def lose(external_id: str, when: str) -> None:
    apply_events(db.session, {"type": "customer_lost", "external_id": external_id, "at": when},
                 at(when))


def sop(key="care") -> Sop:
    return db.session.scalar(select(Sop).where(Sop.key == key))


def row_counts() -> dict[str, int]:
    return {t.name: db.session.scalar(select(func.count()).select_from(t))
            for t in db.metadata.sorted_tables}


def calendar(result) -> list[tuple[str, int, int, int]]:
    return [(d["date"][5:], d["messages"], d["tasks"], d["deferred_by_quota"])
            for d in result["calendar"]]


@pytest.fixture
def vip_customers():
    """c1-c3 would enter; c4 has no VIP, c5 meets the early-end rule too, c6 is lost."""
    set_up(care())
    day = "2025-03-09T12:00:00+08:00"
    add("c1", day, tags=["VIP"])
    add("c2", day, owner="lisi", tags=["VIP"])
    add("c3", day, tags=["VIP"])
    add("c4", day)
    add("c5", day, tags=["VIP", "已复购"])
    add("c6", day, tags=["VIP"])
    lose("c6", "2025-03-09T13:00:00+08:00")


def test_a_draft_nurture_sop_previews_its_entrants_and_their_days(vip_customers):
    result = preview(db.session, sop(), at("2025-03-10T08:00:00+08:00"), days=5)
    assert result["would_enter"] == 3
    assert result["sample"] == ["c1", "c2", "c3"]
    # day 0 (03-10): 10:00 goes, 15:00 waits for 03-11; day 2 (03-12): a task and a message
    assert calendar(result) == [("03-10", 3, 0, 3), ("03-11", 3, 0, 0), ("03-12", 3, 3, 0),
                                ("03-13", 0, 0, 0), ("03-14", 0, 0, 0)]


def test_the_preview_writes_nothing_and_flushes_nothing(vip_customers):
    db.session.execute(delete(Settings))  # a fresh database: the row must not be created
    db.session.commit()
    before, care_sop = row_counts(), sop()
    pending = Tag(name="not-yet-flushed")
    db.session.add(pending)
    result = preview(db.session, care_sop, at("2025-03-10T08:00:00+08:00"), days=3)
    assert result["would_enter"] == 3
    assert pending in db.session.new  # still unflushed: the preview did not autoflush
    assert not db.session.dirty
    db.session.expunge(pending)
    assert row_counts() == before
    assert row_counts()["settings"] == 0


def test_enrolled_customers_count_their_open_and_unwritten_steps(vip_customers):
    db.session.execute(delete(Sop))
    db.session.commit()
    set_up(care(status="running"), now="2025-03-10T07:00:00+08:00")
    tick(db.session, at("2025-03-10T07:30:00+08:00"))  # c1-c3 enter, day 0 = 03-10
    assert db.session.scalar(select(func.count()).select_from(Enrollment)) == 3
    add("c7", "2025-03-11T07:00:00+08:00", tags=["VIP"])  # not ticked yet: would enter
    result = preview(db.session, sop(), at("2025-03-11T08:00:00+08:00"), days=4)
    assert (result["would_enter"], result["sample"]) == (1, ["c7"])
    # c1-c3: yesterday's two pending messages are due at once (one today, one waits for
    # 03-12, where it loses to that day's 10:00 and goes 03-13); day 2's task on 03-12.
    # c7: day 0 today (one waits), day 2 = 03-13.
    assert calendar(result) == [("03-11", 4, 0, 4), ("03-12", 4, 3, 3),
                                ("03-13", 4, 1, 0), ("03-14", 0, 0, 0)]


def test_messages_already_handed_over_are_not_counted_again(vip_customers):
    db.session.execute(delete(Sop))
    db.session.commit()
    set_up(care(status="running"), now="2025-03-10T07:00:00+08:00")
    tick(db.session, at("2025-03-10T07:30:00+08:00"))
    # the tick's planner let one day-0 message per customer through (quota 1 a day) and
    # deferred the other to 03-11; the first is handed over and no longer counted
    send(at("2025-03-10T16:00:00+08:00"))
    result = preview(db.session, sop(), at("2025-03-11T08:00:00+08:00"), days=3)
    assert result["would_enter"] == 0
    assert calendar(result) == [("03-11", 3, 0, 0), ("03-12", 3, 3, 0), ("03-13", 0, 0, 0)]


def test_a_new_customer_sop_takes_those_added_in_its_window_since_it_started():
    steps = [{"day": 0, "at": "20:00", "action": "message", "text": "欢迎"},
             {"day": 1, "at": "10:00", "action": "message", "text": "说明"}]
    set_up({"key": "welcome", "name": "欢迎", "kind": "new_customer", "status": "running",
            "target": {"sources": ["渠道活码"]}, "entry_window_hours": 24, "steps": steps},
           now="2025-03-10T08:00:00+08:00")
    add("a1", "2025-03-10T07:00:00+08:00", source="渠道活码")  # before the start
    add("a2", "2025-03-10T09:00:00+08:00", source="渠道活码")
    add("a3", "2025-03-10T23:30:00+08:00", source="渠道活码")
    add("a4", "2025-03-11T06:00:00+08:00", source="渠道活码")
    add("a5", "2025-03-11T06:00:00+08:00", source="线上广告")  # another source
    add("a6", "2025-03-11T10:00:00+08:00", source="渠道活码")  # after the preview's now
    result = preview(db.session, sop("welcome"), at("2025-03-11T08:00:00+08:00"), days=3)
    assert (result["would_enter"], result["sample"]) == (3, ["a2", "a3", "a4"])
    # a2, a3 (day 0 = 03-10): 20:00 of 03-10 is due at once, today, with day 1's 10:00:
    # 10:00 goes first, the other waits a day. a4 (day 0 = 03-11): 20:00 today, 10:00 03-12.
    assert calendar(result) == [("03-11", 3, 0, 2), ("03-12", 3, 0, 0), ("03-13", 0, 0, 0)]


def test_the_preview_agrees_with_the_tick_that_follows_holdout_included():
    steps = [{"day": 0, "at": "10:00", "action": "message", "text": "欢迎"},
             {"day": 0, "at": "11:00", "action": "task", "title": "打电话"}]
    set_up(care(status="running", holdout_percent=40, steps=steps, early_end={}),
           now="2025-03-10T07:00:00+08:00")
    tick(db.session, at("2025-03-10T07:01:00+08:00"))  # starts it, no customers yet
    for i in range(30):
        add(f"v{i:02d}", "2025-03-10T07:30:00+08:00", tags=["VIP"])
    now = at("2025-03-10T08:00:00+08:00")
    result = preview(db.session, sop(), now, days=1)
    tick(db.session, now)
    enrolled = db.session.scalar(select(func.count()).select_from(Enrollment))
    held = db.session.scalar(select(func.count()).select_from(Enrollment)
                             .where(Enrollment.holdout))
    assert result["would_enter"] == enrolled == 30
    assert 0 < held < 30
    messages = db.session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.action == "message", Delivery.status == "pending"))
    assert calendar(result) == [("03-10", messages, 30, 0)]
    assert messages == 30 - held


def test_playbooks_and_ended_sops_have_no_entrants(vip_customers):
    db.session.execute(delete(Sop))
    db.session.commit()
    set_up(care(key="complaint", kind="playbook", trigger="tag_added", target={},
                early_end={}),
           care(key="over", status="ended"))
    now = at("2025-03-10T08:00:00+08:00")
    for key in ("complaint", "over"):
        result = preview(db.session, sop(key), now, days=2)
        assert (result["would_enter"], result["sample"]) == (0, [])
        assert calendar(result) == [("03-10", 0, 0, 0), ("03-11", 0, 0, 0)]


@pytest.mark.parametrize("days", [0, 91])
def test_days_stay_within_one_to_ninety(days, vip_customers):
    with pytest.raises(ValueError, match="between 1 and 90"):
        preview(db.session, sop(), at("2025-03-10T08:00:00+08:00"), days=days)
