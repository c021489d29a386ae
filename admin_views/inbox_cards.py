"""What an inbox card shows besides its task: the customers it is about (capped), the
attachments of the step or reminder it comes from, and for a one-customer card that
customer's context — tier, stage, the last follow-up and the last message sent — so the
employee acts without opening the customer. A handful of queries per page, whatever
its size."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from models import Customer, Delivery, FollowUp, JourneyReminder, SopStep, Task, db

CUSTOMER_CAP = 50  # customers listed on one card, then "and N more"
SNIPPET = 60  # characters of the last follow-up or message shown on a card


@dataclass
class Context:
    """One customer, as a card shows it."""
    tier: str | None = None
    stage: str | None = None
    followup_at: object = None
    followup: str | None = None
    message_at: object = None
    message: str | None = None


@dataclass
class Card:
    task: Task
    customers: list = field(default_factory=list)  # (id, name, external_id)
    more_customers: int = 0
    attachments: list = field(default_factory=list)  # Material rows
    context: Context | None = None  # only when the card is about one customer


def customers_of(task_ids: list[int]) -> tuple[dict, dict]:
    """The first CUSTOMER_CAP customers of each task's deliveries, and how many in all:
    two queries for the whole page, however big the batches."""
    if not task_ids:
        return {}, {}
    ranked = select(
        Delivery.task_id, Delivery.customer_id,
        func.row_number().over(partition_by=Delivery.task_id, order_by=Delivery.id).label("n"),
    ).where(Delivery.task_id.in_(task_ids)).subquery()
    listed: dict[int, list] = {}
    for task_id, *customer in db.session.execute(
            select(ranked.c.task_id, Customer.id, Customer.name, Customer.external_id)
            .join(Customer, Customer.id == ranked.c.customer_id)
            .where(ranked.c.n <= CUSTOMER_CAP).order_by(ranked.c.task_id, ranked.c.n)):
        listed.setdefault(task_id, []).append(tuple(customer))
    totals = dict(db.session.execute(
        select(Delivery.task_id, func.count()).where(Delivery.task_id.in_(task_ids))
        .group_by(Delivery.task_id)).all())
    return listed, totals


def attachments_of(task_ids: list[int]) -> dict[int, list]:
    """The attachments of the step (or journey reminder) each task's deliveries come from,
    as they are now (a send task is one batch: one step)."""
    if not task_ids:
        return {}
    first = select(func.min(Delivery.id)).where(Delivery.task_id.in_(task_ids)) \
        .group_by(Delivery.task_id)
    origin = db.session.execute(select(Delivery.task_id, Delivery.step_id, Delivery.reminder_id)
                                .where(Delivery.id.in_(first))).all()
    step_ids = {r.step_id for r in origin if r.step_id is not None}
    reminder_ids = {r.reminder_id for r in origin if r.reminder_id is not None}
    steps = {s.id: s.attachments for s in db.session.scalars(
        select(SopStep).where(SopStep.id.in_(step_ids))
        .options(selectinload(SopStep.attachments)))} if step_ids else {}
    reminders = {r.id: r.attachments for r in db.session.scalars(
        select(JourneyReminder).where(JourneyReminder.id.in_(reminder_ids))
        .options(selectinload(JourneyReminder.attachments)))} if reminder_ids else {}
    return {r.task_id: list(steps.get(r.step_id) or reminders.get(r.reminder_id) or ())
            for r in origin}


def cards_for(tasks: list[Task]) -> list[Card]:
    ids = [t.id for t in tasks]
    listed, totals = customers_of(ids)
    attachments = attachments_of(ids)
    cards = []
    for task in tasks:
        customers = listed.get(task.id, [])
        total = totals.get(task.id, 0)
        if not customers and task.customer is not None:  # a follow-up, a request ...
            customers, total = [(task.customer.id, task.customer.name,
                                 task.customer.external_id)], 1
        cards.append(Card(task, customers, max(total - len(customers), 0),
                          attachments.get(task.id, [])))
    single = {card.customers[0][0] for card in cards if len(card.customers) == 1}
    contexts = contexts_of(single)
    for card in cards:
        if len(card.customers) == 1:
            card.context = contexts.get(card.customers[0][0])
    return cards


def snippet(text: str | None) -> str | None:
    text = " ".join((text or "").split())
    return text[:SNIPPET] + "…" if len(text) > SNIPPET else (text or None)


def contexts_of(customer_ids: set[int]) -> dict[int, Context]:
    """Tier, stage, last follow-up and last message sent of each customer."""
    if not customer_ids:
        return {}
    ids = sorted(customer_ids)
    found = {c.id: Context(tier=c.tier, stage=c.lifecycle_stage)
             for c in db.session.execute(select(Customer.id, Customer.tier,
                                                Customer.lifecycle_stage)
                                         .where(Customer.id.in_(ids)))}
    last_followups = select(func.max(FollowUp.id)).where(FollowUp.customer_id.in_(ids)) \
        .group_by(FollowUp.customer_id)
    for row in db.session.execute(select(FollowUp.customer_id, FollowUp.at, FollowUp.key_points)
                                  .where(FollowUp.id.in_(last_followups))):
        found[row.customer_id].followup_at = row.at
        found[row.customer_id].followup = snippet(row.key_points)
    last_sent = select(func.max(Delivery.id)).where(
        Delivery.customer_id.in_(ids), Delivery.status == "sent",
        Delivery.action == "message").group_by(Delivery.customer_id)
    for row in db.session.execute(select(Delivery.customer_id, Delivery.sent_at, Delivery.text)
                                  .where(Delivery.id.in_(last_sent))):
        found[row.customer_id].message_at = row.sent_at
        found[row.customer_id].message = snippet(row.text)
    return found
