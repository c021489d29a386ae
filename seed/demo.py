"""The demo: configuration from seed/demo.yaml, a login per role, ~2,000 customers.

`seed_demo(session, now)` is idempotent: the configuration is imported by key
(an existing item is updated), users are created only when missing, and only
missing customers are inserted, so a second run changes no counts.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    Customer, Department, Employee, Journey, Order, Sop, Tag, Task, User,
)
from jobs.channels.task import TaskChannel
from jobs.evaluator import tick
from jobs.events import apply_events
from jobs.lifecycle import start_sync
from jobs.sender import mark_task_done, send_due
from models.audit import acting_as, audit_bulk
from models.base import utcnow
from seed.demo_crm import staff_work
from seed.demo_customers import GIVEN, SURNAMES, insert_demo_customers

CONFIG_PATH = Path(__file__).with_name("demo.yaml")
DEMO_PASSWORD = "sop-demo-pass"
# (username, role, employee userid or None): sales, service and the manager act
# as their WeCom member, which decides the rows they see.
DEMO_USERS = (
    ("admin", "admin", None),
    ("ops", "ops", None),
    ("manager", "manager", "ZhouJianguo"),
    ("sales", "sales", "LiNa"),
    ("service", "service", "WuTing"),
    ("finance", "finance", None),
)


class DemoError(Exception):
    """The demo could not be loaded; nothing was committed."""


@dataclass
class DemoSummary:
    inserted: dict[str, int]
    users_created: list[str]
    totals: dict[str, int]


def load_config(session: Session, now: datetime) -> None:
    from config_io.importer import import_document

    doc = yaml.safe_load(CONFIG_PATH.read_text(encoding="utf-8"))
    # The file gives a new SOP its first status; a re-run leaves alone an SOP that
    # has since been paused or ended (ended cannot go back to running anyway).
    existing = set(session.scalars(select(Sop.key)))
    for sop in doc["sops"]:
        if sop["key"] in existing:
            sop.pop("status", None)
    problems = import_document(session, doc, now)
    if problems:
        raise DemoError("seed/demo.yaml: " + "; ".join(map(str, problems)))


def ensure_users(session: Session) -> list[str]:
    """Create the demo logins that do not exist yet; existing ones are left alone."""
    created = []
    existing = set(session.scalars(select(User.username)))
    employees = dict(session.execute(select(Employee.userid, Employee.id)).all())
    for username, role, userid in DEMO_USERS:
        if username in existing:
            continue
        user = User(username=username, role=role, employee_id=employees.get(userid))
        user.set_password(DEMO_PASSWORD)
        session.add(user)
        created.append(username)
    session.flush()
    return created


def totals(session: Session) -> dict[str, int]:
    def count(model) -> int:
        return session.scalar(select(func.count()).select_from(model))

    return {"departments": count(Department), "employees": count(Employee),
            "users": count(User), "tags": count(Tag), "sops": count(Sop),
            "journeys": count(Journey), "customers": count(Customer), "orders": count(Order)}


HISTORY = timedelta(days=20)  # the demo opens on a product that has been running a while
REPLAY_STEP = timedelta(hours=3)


DEMO_ZONE = ZoneInfo("Asia/Shanghai")  # settings.timezone in demo.yaml
WORKDAY_START = time(9, 30)


def replay_start(now: datetime) -> datetime:
    """The first 09:30 (Shanghai) at least `HISTORY` before `now`, but within a day of it:
    the replayed days begin in working hours, so fans, tasks and sends fall in them."""
    target = (now - HISTORY).astimezone(DEMO_ZONE)
    start = datetime.combine(target.date(), WORKDAY_START, DEMO_ZONE)
    if start < target:
        start += timedelta(days=1)
    return start.astimezone(timezone.utc)


def seed_demo(session: Session, now: datetime | None = None) -> DemoSummary:
    """Load the whole demo in one transaction (all or nothing), as of `HISTORY` ago,
    then run the engine through those days up to `now`."""
    now = now or utcnow()
    began = replay_start(now)
    try:
        with acting_as("seed"):
            load_config(session, began)
            users = ensure_users(session)
            inserted = insert_demo_customers(session, began)
            if inserted["customers"]:
                for journey in session.scalars(select(Journey).where(Journey.enabled)):
                    if journey.sync_started_at is None:  # place the demo customers in stages
                        start_sync(session, journey, began)
                # Bulk inserts bypass the per-row audit listener: one row says what they wrote.
                audit_bulk(session, "Customer", "demo seed: {customers} customers, {orders} "
                           "orders, {tags} customer tags (bulk insert)".format(**inserted),
                           inserted)
            session.commit()
    except Exception:
        session.rollback()
        raise
    with acting_as("seed"):
        if inserted["customers"]:
            replay(session, began, now)
        tick(session, now)
    return DemoSummary(inserted=inserted, users_created=users, totals=totals(session))


FAN_OWNERS = ("LiNa", "WangQiang", "ZhaoMin", "HuangWei", "LinXiaoyan")
FANS_A_DAY = (3, 11)  # fewer on a quiet day, more when a post did well
ORDER_AFTER_DAYS = 3  # a third of the fans order again this long after they came


def replay(session: Session, began: datetime, now: datetime) -> None:
    """The engine as it would have run: new fans from the channel code every day (the
    sunscreen SOP takes them in; a few buy again and flow on), a tick and the due sends
    every few hours; the employees confirmed most of the send tasks of earlier days
    (every seventh is left open, so the inbox has overdue work too) and, once a day,
    logged follow-ups, decided reviews and took requests (seed/demo_crm.py)."""
    moment, day = began, 0
    while moment < now:
        new_day = moment >= began + timedelta(days=day)
        if new_day:
            apply_events(session, fans_on(day), moment)
            day += 1
        tick(session, moment)
        send_due(session, moment, lambda name: TaskChannel())
        for task in session.scalars(select(Task).where(
                Task.kind.in_(("send", "reminder")), Task.status == "open",
                Task.due_at < moment - timedelta(days=1))):
            if task.id % 7:
                mark_task_done(session, task, task.due_at + timedelta(hours=2),
                               by=task.employee.userid if task.employee else "seed")
        if new_day:
            staff_work(session, moment, day - 1)
        session.commit()
        moment += REPLAY_STEP


def fan_count(day: int) -> int:
    return random.Random(f"fans-{day}").randint(*FANS_A_DAY)


def fans_total() -> int:
    """How many fans the replay adds (the tests count on it)."""
    return sum(fan_count(day) for day in range(HISTORY.days))


def fan_name(day: int, i: int) -> str:
    rng = random.Random(f"fan-{day}-{i}")
    return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))


def fans_on(day: int) -> list[dict]:
    """That day's new fans from the channel code (the sunscreen SOP takes them in); the
    first fan of a week earlier buys again (已复购) and a third of the fans of a few days
    earlier place an order (the SOP's data page shows conversion)."""
    fans = [{"type": "customer_added", "external_id": f"fan-{day:02d}-{i}",
             "name": fan_name(day, i), "source": "渠道活码", "tags": ["购买防晒正装"],
             "owner": FAN_OWNERS[(day + i) % len(FAN_OWNERS)], "id": f"demo-fan-{day}-{i}"}
            for i in range(fan_count(day))]
    if day >= 7:
        fans.append({"type": "tag_added", "external_id": f"fan-{day - 7:02d}-0",
                     "tags": ["已复购"], "id": f"demo-repurchase-{day}"})
    earlier = day - ORDER_AFTER_DAYS
    if earlier >= 0:
        fans += [{"type": "order_placed", "external_id": f"fan-{earlier:02d}-{i}",
                  "order_id": f"DEMO-FAN-{earlier:02d}-{i}", "amount": str(129 + 30 * i),
                  "id": f"demo-fan-order-{earlier}-{i}"}
                 for i in range(1, fan_count(earlier), 3)]
    return fans


def login_lines() -> list[str]:
    """The demo logins, for the CLI and deploy/demo.sh."""
    lines = [f"Demo logins (password for all: {DEMO_PASSWORD}):"]
    for username, role, userid in DEMO_USERS:
        linked = f"  (acts as employee {userid})" if userid else ""
        lines.append(f"  {username:<8} role {role}{linked}")
    return lines
