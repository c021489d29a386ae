"""A fixed data set for the data-page tests, written row by row with the models so that
every figure on the pages can be worked out by hand (tests/test_data_pages.py does).

SOP `promo` (7-day conversion window, 20 % holdout), three steps: day 0 and day 2
messages, a day 3 task. Ten customers: c1-c6 owned by zhangsan (华东销售), c7-c10 by
lisi (华南销售). c1-c6 entered on Monday 2025-03-03 09:00, c7-c10 on Tuesday
2025-03-11 09:00 (Shanghai). c5, c6 and c10 are the holdout group. "Now" is Friday
2025-03-14 12:00.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from models import (
    BudgetDay, Customer, Delivery, Enrollment, Journey, JourneyPlacement, JourneyStage, Order,
    Sop, SopStep, db,
)
from models.audit import acting_as
from tests.conftest import make_employee

TZ = ZoneInfo("Asia/Shanghai")


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=TZ)


NOW = at(3, 14, 12)
WEEK_A, WEEK_B = at(3, 3, 9), at(3, 11, 9)
HOLDOUT = {"c5", "c6", "c10"}
STATUS = {"c1": "completed", "c2": "ended_early", "c3": "ended_manual"}  # others active
ORDERS = {  # customer -> when: c1, c5 and c7 ordered within 7 days of entering
    "c1": at(3, 5, 15),  # 2 days in
    "c2": at(3, 12, 10),  # 9 days in: too late
    "c3": at(3, 1, 10),  # before entering
    "c5": at(3, 4, 10),  # holdout, 1 day in
    "c7": at(3, 18, 8, 59),  # 6 days 23 h 59 min in
    "c8": at(3, 18, 9),  # exactly 7 days in: outside [enrolled, enrolled + 7 days)
}
# (customer, position) -> (status, due, queued_at, sent_at, first_due_at, reason)
DELIVERIES = {
    ("c1", 0): ("sent", at(3, 3, 10), at(3, 3, 10), at(3, 3, 11), None, None),
    ("c2", 0): ("sent", at(3, 3, 10), at(3, 3, 10), at(3, 4, 9), None, None),
    ("c3", 0): ("queued", at(3, 3, 10), at(3, 3, 10), None, None, None),
    ("c4", 0): ("failed", at(3, 3, 10), None, None, None, "errcode 41001"),
    ("c5", 0): ("skipped", at(3, 3, 10), None, None, None, "holdout"),
    ("c6", 0): ("skipped", at(3, 3, 10), None, None, None, "holdout"),
    ("c7", 0): ("deferred", at(3, 12, 10), None, None, at(3, 11, 10), "quota: 1 per day reached"),
    ("c8", 0): ("pending", at(3, 11, 10), None, None, None, None),
    ("c9", 0): ("expired", at(3, 11, 10), None, None, None, "more than 3 days late"),
    ("c10", 0): ("skipped", at(3, 11, 10), None, None, None, "holdout"),
    ("c1", 1): ("sent", at(3, 5, 10), at(3, 5, 10), at(3, 5, 12), None, None),
    ("c2", 1): ("cancelled", at(3, 5, 10), None, None, None, "ended early"),
    ("c4", 1): ("skipped", at(3, 5, 10), None, None, None, "customer lost"),
    ("c1", 2): ("queued", at(3, 6, 10), at(3, 6, 10), None, None, None),
}
BUDGET_USED = {date(2025, 3, 3): 3, date(2025, 3, 5): 1}


def build_promo() -> dict:
    """The SOP data set above; returns {"sop": Sop, "customers": {name: Customer}}."""
    with acting_as("test"):
        staff = {"zhangsan": make_employee("zhangsan", "华东销售"),
                 "lisi": make_employee("lisi", "华南销售")}
        sop = Sop(key="promo", name="春季促销", kind="nurture", status="running",
                  conversion_days=7, holdout_percent=20)
        sop.steps = [SopStep(position=0, day=0, at_time="10:00", action="message", text="a"),
                     SopStep(position=1, day=2, at_time="10:00", action="message", text="b"),
                     SopStep(position=2, day=3, at_time="10:00", action="task",
                             task_title="call", task_assignee="owner")]
        db.session.add(sop)
        customers, enrollments = {}, {}
        for i in range(1, 11):
            name = f"c{i}"
            owner = staff["zhangsan"] if i <= 6 else staff["lisi"]
            customers[name] = Customer(external_id=f"wx-{name}", name=name, owner_id=owner.id,
                                       added_at=at(2, 1))
        db.session.add_all(customers.values())
        db.session.flush()
        for name, row in customers.items():
            entered = WEEK_A if int(name[1:]) <= 6 else WEEK_B
            enrollments[name] = Enrollment(
                sop_id=sop.id, customer_id=row.id, status=STATUS.get(name, "active"),
                enrolled_at=entered, day0=entered.date(), holdout=name in HOLDOUT)
        db.session.add_all(enrollments.values())
        db.session.flush()
        steps = {s.position: s for s in sop.steps}
        for (name, position), (status, due, queued, sent, first, reason) in DELIVERIES.items():
            db.session.add(Delivery(
                customer_id=customers[name].id, sop_id=sop.id,
                enrollment_id=enrollments[name].id, step_id=steps[position].id,
                position=position, action=steps[position].action,
                sender_id=customers[name].owner_id, due_at=due, first_due_at=first,
                status=status, reason=reason, queued_at=queued, sent_at=sent))
        for n, (name, placed) in enumerate(ORDERS.items()):
            db.session.add(Order(order_id=f"o{n}", customer_id=customers[name].id,
                                 amount=Decimal("99.00"), placed_at=placed))
        for day, used in BUDGET_USED.items():
            db.session.add(BudgetDay(day=day, used=used))
        db.session.commit()
    return {"sop": sop, "customers": customers, "staff": staff}


# --- a journey: stages s1 拔牙后, s2 种牙, s3 复查 ------------------------------------------
# customer -> [(stage, entered, left)], oldest first
PLACEMENTS = {
    "c1": [("s1", at(3, 1, 9), at(3, 10, 9)), ("s2", at(3, 10, 9), None)],
    "c2": [("s1", at(3, 12, 9), None)],
    "c3": [("s2", at(2, 1, 9), at(3, 13, 9))],  # then left the journey
    "c4": [("s1", at(2, 20, 9), at(3, 5, 9)), ("s3", at(3, 5, 9), at(3, 8, 9)),
           ("s1", at(3, 8, 9), None)],
}
# (employee, status) -> reminders
REMINDERS = {("zhangsan", "sent"): 2, ("zhangsan", "queued"): 1, ("zhangsan", "expired"): 1,
             ("zhangsan", "cancelled"): 1, ("lisi", "queued"): 1}


def build_dental(promo: dict) -> Journey:
    """The journey data set, on promo's customers and staff."""
    customers, staff = promo["customers"], promo["staff"]
    with acting_as("test"):
        journey = Journey(key="dental", name="拔牙旅程", enabled=True)
        journey.stages = [JourneyStage(position=i, key=f"s{i + 1}", name=name)
                          for i, name in enumerate(("拔牙后", "种牙", "复查"))]
        db.session.add(journey)
        db.session.flush()
        stages = {s.key: s for s in journey.stages}
        placement = None
        for name, stays in PLACEMENTS.items():
            for stage, entered, left in stays:
                placement = JourneyPlacement(
                    journey_id=journey.id, stage_id=stages[stage].id,
                    customer_id=customers[name].id, entered_at=entered, day0=entered.date(),
                    left_at=left)
                db.session.add(placement)
                db.session.flush()  # in order: ids follow time, as the engine writes them
        for (userid, status), n in REMINDERS.items():
            for _ in range(n):
                db.session.add(Delivery(
                    customer_id=customers["c1"].id, journey_id=journey.id,
                    placement_id=placement.id, stage_key="s1", position=0, action="reminder",
                    sender_id=staff[userid].id, due_at=at(3, 9, 9), status=status))
        db.session.commit()
    return journey
