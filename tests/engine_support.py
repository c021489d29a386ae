"""Helpers for the engine tests: build config documents, feed events, tick, read results.

Everything goes through the real data paths (`import_document`, `apply_events`,
`tick`, `send_due`, the lifecycle services); times are built in the enterprise
zone and passed explicitly, so no test depends on the clock.
"""
from __future__ import annotations

import copy
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from jobs.evaluator import tick
from jobs.events import apply_events
from jobs.channels.task import TaskChannel
from jobs.sender import send_due
from models import (
    ChangeJournal, Customer, CustomerTag, Delivery, Enrollment, Journey, JourneyPlacement,
    JourneyStage, Settings, Sop, Tag, TagChange, Task, db,
)
from models.audit import acting_as
from config_io.importer import import_document

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")

EMPLOYEES = [
    {"userid": "zhangsan", "name": "张三", "department": "华东销售", "role": "sales"},
    {"userid": "lisi", "name": "李四", "department": "华南销售", "role": "sales"},
    {"userid": "wangwu", "name": "王五", "department": "客服中心", "role": "service"},
]
TAGS = ["购买防晒正装", "已复购", "提前结束", "SOP完成", "回访完成", "VIP", "无关", "投诉",
        "拔牙", "种牙", "旧标签", "新标签"]


# --- times -------------------------------------------------------------------------
def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
          tz: ZoneInfo = SHANGHAI) -> datetime:
    """An aware instant given as local wall time (Asia/Shanghai unless told)."""
    return datetime(year, month, day, hour, minute, tzinfo=tz)


def iso(instant: datetime) -> str:
    return instant.isoformat()


# --- documents -----------------------------------------------------------------------
def step(day: int, at: str = "10:00", action: str = "message", **fields) -> dict:
    out = {"day": day, "at": at, "action": action}
    if action == "message":
        out["text"] = fields.pop("text", f"第{day}天 {at}")
    out.update(fields)
    return out


def sop(key: str, kind: str = "nurture", steps=None, status: str = "running", **fields) -> dict:
    out = {"key": key, "name": key, "kind": kind, "status": status,
           "steps": [step(0)] if steps is None else list(steps)}
    out.update(fields)
    return out


def journey(key: str, stages, **fields) -> dict:
    return {"key": key, "name": key, "enabled": True, "stages": list(stages), **fields}


def doc(sops=(), journeys=(), settings=None) -> dict:
    out = {"employees": copy.deepcopy(EMPLOYEES), "tags": [{"name": n} for n in TAGS],
           "sops": list(sops), "journeys": list(journeys)}
    # The engine's rules are tested with room for every send; the quota has its own tests.
    out["settings"] = {"quota": {"limit": 31, "period": "day"}, **(settings or {})}
    return out


def load(document: dict, now: datetime) -> None:
    """Import a config document as of `now` (an SOP set running starts then); commit."""
    with acting_as("test"):
        problems = import_document(db.session, copy.deepcopy(document), now)
        assert [str(p) for p in problems] == []
        db.session.commit()
    db.session.expire_all()


def base() -> None:
    """Employees and tags only: what events need before any SOP exists."""
    load(doc(), local(2025, 1, 1))


def import_problems(document: dict, now: datetime) -> list[str]:
    with acting_as("test"):
        problems = [str(p) for p in import_document(db.session, copy.deepcopy(document), now)]
    db.session.rollback()
    return problems


# --- events ----------------------------------------------------------------------------
def added(external_id: str, owner: str | None = "zhangsan", source: str | None = "渠道活码",
          tags=(), **fields) -> dict:
    event = {"type": "customer_added", "external_id": external_id, "name": external_id,
             "tags": list(tags), **fields}
    if owner:
        event["owner"] = owner
    if source:
        event["source"] = source
    return event


def tag_added(external_id: str, *names: str) -> dict:
    return {"type": "tag_added", "external_id": external_id, "tags": list(names)}


def tag_removed(external_id: str, *names: str) -> dict:
    return {"type": "tag_removed", "external_id": external_id, "tags": list(names)}


def stage_changed(external_id: str, stage: str) -> dict:
    return {"type": "stage_changed", "external_id": external_id, "stage": stage}


def lost(external_id: str) -> dict:
    return {"type": "customer_lost", "external_id": external_id}


def events(*items: dict, now: datetime) -> dict:
    """Apply events (each at `now` unless it says `at`) and commit."""
    with acting_as("test"):
        result = apply_events(db.session, [dict(e) for e in items], now)
    db.session.expire_all()
    return result


# --- common set-ups -----------------------------------------------------------------------
START = local(2025, 3, 1, 8)  # SOPs set up with `started` are imported (and started) then
SUNSCREEN = {"sources": ["渠道活码"], "tags_any": ["购买防晒正装"]}


def welcome(**fields) -> dict:
    """A new-customer SOP for channel-code fans who bought the full-size sunscreen."""
    fields.setdefault("target", SUNSCREEN)
    fields.setdefault("steps", [step(1), step(5)])
    return sop("welcome", kind="new_customer", **fields)


def started(*sops: dict) -> None:
    """Import these SOPs as running at START and run the tick that initializes them."""
    load(doc(sops), START)
    run_tick(START + timedelta(minutes=5))
    assert all(sop_row(s["key"]).status == "running" for s in sops)


def paid_customers(*external_ids: str, at: datetime | None = None) -> None:
    """Customers added (on 2/20 unless told), then moved to the 付费 stage a minute later."""
    at = at or local(2025, 2, 20, 9)
    events(*[added(x) for x in external_ids], now=at)
    events(*[stage_changed(x, "付费") for x in external_ids], now=at + timedelta(minutes=1))


# --- the engine -------------------------------------------------------------------------
def run_tick(now: datetime) -> dict:
    summary = tick(db.session, now)
    db.session.expire_all()
    assert "skipped" not in summary, summary
    return summary


def send(now: datetime) -> dict:
    """`flask sop send` as of `now`, through the inbox channel."""
    result = send_due(db.session, now, lambda name: TaskChannel())
    db.session.commit()
    db.session.expire_all()
    return result


# --- reading results -----------------------------------------------------------------
def zone() -> ZoneInfo:
    return ZoneInfo(Settings.get(db.session).timezone)


def sop_row(key: str) -> Sop:
    return db.session.scalar(select(Sop).where(Sop.key == key))


def customer(external_id: str) -> Customer:
    return db.session.scalar(select(Customer).where(Customer.external_id == external_id))


def journey_row(key: str) -> Journey:
    return db.session.scalar(select(Journey).where(Journey.key == key))


def stage_row(journey_key: str, stage_key: str) -> JourneyStage:
    return db.session.scalar(select(JourneyStage).join(Journey).where(
        Journey.key == journey_key, JourneyStage.key == stage_key))


def enrollment(sop_key: str, external_id: str) -> Enrollment | None:
    return db.session.scalar(
        select(Enrollment).join(Sop, Sop.id == Enrollment.sop_id)
        .join(Customer, Customer.id == Enrollment.customer_id)
        .where(Sop.key == sop_key, Customer.external_id == external_id))


def enrolled(sop_key: str) -> set[str]:
    """External ids of every customer with an enrollment (any status) in the SOP."""
    return set(db.session.scalars(
        select(Customer.external_id).join(Enrollment, Enrollment.customer_id == Customer.id)
        .join(Sop, Sop.id == Enrollment.sop_id).where(Sop.key == sop_key)))


def deliveries(sop_key: str, external_id: str | None = None) -> list[tuple]:
    """(position, local due, status) of an SOP's deliveries, in due order."""
    query = (select(Delivery.position, Delivery.due_at, Delivery.status)
             .join(Sop, Sop.id == Delivery.sop_id)
             .join(Customer, Customer.id == Delivery.customer_id).where(Sop.key == sop_key))
    if external_id is not None:
        query = query.where(Customer.external_id == external_id)
    tz = zone()
    rows = db.session.execute(query.order_by(Delivery.due_at, Delivery.position,
                                             Delivery.id)).all()
    return [(position, due.astimezone(tz), status) for position, due, status in rows]


def delivery_rows(external_id: str | None = None, **where) -> list[Delivery]:
    query = select(Delivery).join(Customer, Customer.id == Delivery.customer_id)
    if external_id is not None:
        query = query.where(Customer.external_id == external_id)
    for name, value in where.items():
        query = query.where(getattr(Delivery, name) == value)
    return list(db.session.scalars(query.order_by(Delivery.due_at, Delivery.id)))


def reminders(journey_key: str, external_id: str | None = None) -> list[tuple]:
    """(stage key, position, local due, status, sender userid) of a journey's reminders."""
    query = (select(Delivery).join(Journey, Journey.id == Delivery.journey_id)
             .join(Customer, Customer.id == Delivery.customer_id)
             .where(Journey.key == journey_key))
    if external_id is not None:
        query = query.where(Customer.external_id == external_id)
    tz = zone()
    return [(d.stage_key, d.position, d.due_at.astimezone(tz), d.status,
             d.sender.userid if d.sender else None)
            for d in db.session.scalars(query.order_by(Delivery.due_at, Delivery.id))]


def placements(journey_key: str, external_id: str) -> list[JourneyPlacement]:
    """Every placement of the customer in the journey, oldest first."""
    return list(db.session.scalars(
        select(JourneyPlacement).join(Journey, Journey.id == JourneyPlacement.journey_id)
        .join(Customer, Customer.id == JourneyPlacement.customer_id)
        .where(Journey.key == journey_key, Customer.external_id == external_id)
        .order_by(JourneyPlacement.id)))


def current_stage(journey_key: str, external_id: str) -> str | None:
    open_ = [p for p in placements(journey_key, external_id) if p.left_at is None]
    assert len(open_) <= 1, "more than one open placement"
    return open_[0].stage.key if open_ else None


def tags_of(external_id: str) -> dict[str, str]:
    """The customer's tags: name -> source."""
    return dict(db.session.execute(
        select(Tag.name, CustomerTag.source).join(CustomerTag, CustomerTag.tag_id == Tag.id)
        .join(Customer, Customer.id == CustomerTag.customer_id)
        .where(Customer.external_id == external_id)).all())


def journal_of(external_id: str, source: str | None = None) -> list[tuple[str, dict]]:
    query = (select(ChangeJournal.kind, ChangeJournal.detail, ChangeJournal.source)
             .join(Customer, Customer.id == ChangeJournal.customer_id)
             .where(Customer.external_id == external_id).order_by(ChangeJournal.id))
    rows = db.session.execute(query).all()
    return [(kind, detail) for kind, detail, src in rows if source is None or src == source]


def tasks(**where) -> list[Task]:
    """The engine's tasks (steps, reminders, sends), not the CRM rules' (follow-ups,
    reviews: tests/test_followups.py and tests/test_crm_rules.py have those)."""
    query = select(Task).where(Task.rule.is_(None))
    for name, value in where.items():
        query = query.where(getattr(Task, name) == value)
    return list(db.session.scalars(query.order_by(Task.id)))


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


DUMPED = (Enrollment, Delivery, JourneyPlacement, Task, CustomerTag, TagChange, ChangeJournal,
          Customer, Sop, Journey)


def dump() -> dict[str, list[tuple]]:
    """Every row of the tables the engine writes, as sorted plain tuples."""
    db.session.expire_all()
    out = {}
    for model in DUMPED:
        columns = list(model.__table__.columns)
        rows = db.session.execute(select(*columns)).all()
        out[model.__tablename__] = sorted(tuple(map(repr, row)) for row in rows)
    return out


def local_day(instant: datetime) -> date:
    return instant.astimezone(zone()).date()
