"""The demo: configuration from seed/demo.yaml, a login per role, ~2,000 customers.

`seed_demo(session, now)` is idempotent: the configuration is imported by key
(an existing item is updated), users are created only when missing, and only
missing customers are inserted, so a second run changes no counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

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
from seed.demo_customers import insert_demo_customers

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


def seed_demo(session: Session, now: datetime | None = None) -> DemoSummary:
    """Load the whole demo in one transaction (all or nothing), as of `HISTORY` ago,
    then run the engine through those days up to `now`."""
    now = now or utcnow()
    began = now - HISTORY
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
FANS_PER_DAY = 6


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


def fans_on(day: int) -> list[dict]:
    """That day's new fans; the first fan of a week earlier buys again (已复购)."""
    fans = [{"type": "customer_added", "external_id": f"fan-{day:02d}-{i}",
             "name": f"粉丝{day:02d}{i}", "source": "渠道活码", "tags": ["购买防晒正装"],
             "owner": FAN_OWNERS[(day + i) % len(FAN_OWNERS)], "id": f"demo-fan-{day}-{i}"}
            for i in range(FANS_PER_DAY)]
    if day >= 7:
        fans.append({"type": "tag_added", "external_id": f"fan-{day - 7:02d}-0",
                     "tags": ["已复购"], "id": f"demo-repurchase-{day}"})
    return fans


def login_lines() -> list[str]:
    """The demo logins, for the CLI and deploy/demo.sh."""
    lines = [f"Demo logins (password for all: {DEMO_PASSWORD}):"]
    for username, role, userid in DEMO_USERS:
        linked = f"  (acts as employee {userid})" if userid else ""
        lines.append(f"  {username:<8} role {role}{linked}")
    return lines
