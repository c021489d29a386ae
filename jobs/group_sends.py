"""Manual group sends (客户群发, SPEC §10): check, preview and create one.

A group send takes the customers matching its target (lost customers only when the
target asks for them, as an SOP does), optionally only those owned by the chosen
senders and, for a manager, only their department's. Creating it writes one
`pending` delivery per customer, due at `at`; the tick's planner then treats them as
any SOP message: the same per-customer quota (priority decides), batches, channels
and exactly-once sender. A customer without an active owner is held, never sent from
nobody.

The preview simulates the planner over the same candidates and the ledger, writing
nothing: matched, on its day (`today`), deferred (and to which days), expired,
without an active owner. It sees the messages already written (the tick writes a
day's SOP messages at its first pass that day), so a later day's estimate leaves out
SOP steps whose day has not come yet.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import ColumnElement, and_, func, insert, literal, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jobs import preemption
from jobs.conditions_sql import condition_sql
from jobs.context import REACHABLE, Context
from jobs.core.checker import Problem
from jobs.core.due import local_time
from jobs.core.quota import Candidate, period_start, simulate
from jobs.core.rules_group_send import check_group_send
from jobs.core.vocab import DELIVERY_STATUSES, OPEN_DELIVERY_STATUSES, QUOTA_ACTIONS
from jobs.events import parse_time
from jobs.planner import cancel_open, chunks, live_origin, quota_rule
from jobs.preview import settings_or_defaults
from models import (
    BudgetDay, Customer, Delivery, Employee, GroupSend, Material, QuotaLedger, Sop,
)
from models.audit import audit_bulk
from models.base import UTCDateTime
from models.one_of import one_of

DEFAULT_BATCH = (200, 0)


@dataclass(frozen=True)
class Spec:
    key: str
    text: str
    attachments: tuple[str, ...] = ()
    target: dict = field(default_factory=dict)
    at: datetime | None = None  # None: now
    priority: int = 0
    batch_size: int = DEFAULT_BATCH[0]
    batch_interval_minutes: int = DEFAULT_BATCH[1]
    senders: tuple[str, ...] = ()


@dataclass(frozen=True)
class Preview:
    matched: int
    today: int  # sent on its own day
    deferred: int  # sent on a later day (the quota was full)
    no_owner: int  # held: no active owner to send
    expired: int = 0  # no room within max_lateness_days
    deferred_to: tuple[tuple[date, int], ...] = ()  # (local day, customers)
    day: date | None = None  # the local day it is due

    def as_dict(self) -> dict:
        return {"matched": self.matched, "today": self.today, "deferred": self.deferred,
                "no_owner": self.no_owner, "expired": self.expired,
                "deferred_to": [{"date": d.isoformat(), "customers": n}
                                for d, n in self.deferred_to]}


def parse(data, known, now: datetime) -> tuple[Spec | None, list[Problem]]:
    """A request body (the API's or the form's) as a Spec, or the problems with it."""
    problems = check_group_send(data, known)
    at = None
    if isinstance(data, dict) and data.get("at") not in (None, ""):
        try:
            at = parse_time(data["at"]).astimezone(timezone.utc)
        except ValueError as exc:
            problems.append(Problem("at", str(exc)))
    if problems:
        return None, problems
    batch = data.get("batch") or {}
    target = {k: v for k, v in (data.get("target") or {}).items() if v not in (None, [], "")}
    return Spec(key=data["key"], text=data["text"], attachments=tuple(data.get("attachments") or ()),
                target=target, at=at, priority=data.get("priority") or 0,
                batch_size=batch.get("size") or DEFAULT_BATCH[0],
                batch_interval_minutes=batch.get("interval_minutes") or DEFAULT_BATCH[1],
                senders=tuple(data.get("senders") or ())), []


def audience(ctx: Context, spec: Spec, visible=None) -> ColumnElement[bool]:
    """The customers a group send goes to, as a WHERE clause on Customer."""
    condition = ctx.condition(spec.target)
    if condition.churn_statuses is None:
        condition = replace(condition, churn_statuses=REACHABLE)
    where = [condition_sql(condition)]
    if spec.senders:
        where.append(Customer.owner_id.in_(
            select(Employee.id).where(Employee.userid.in_(sorted(spec.senders)))))
    if visible is not None:
        where.append(Customer.id.in_(visible))
    return and_(true(), *where)


def preview(session: Session, now: datetime, spec: Spec, visible=None) -> Preview:
    """What creating `spec` now would do, under the quota as it stands; writes nothing."""
    with session.no_autoflush:
        ctx = Context(session, now)
        ctx.settings = settings_or_defaults(session)
        rule = quota_rule(ctx.settings)
        due = max(spec.at or now, now)
        rows = session.execute(
            select(Customer.id, Employee.active).outerjoin(Employee, Employee.id == Customer.owner_id)
            .where(audience(ctx, spec, visible))).all()
        owned = [customer_id for customer_id, active in rows if active]
        day = due.astimezone(ctx.tz).date()
        last = day + timedelta(days=rule.max_lateness_days)
        candidates = [Candidate(-c, c, spec.priority, due, due) for c in owned]
        candidates += _competing(ctx, owned, last)
        used, budget = _ledger(ctx, owned, rule, last)
        for r in preemption.reopen(ctx, owned, chunks, hold=False):  # as the tick will
            candidates.append(Candidate(r.id, r.customer_id, r.priority, r.due_at,
                                        r.first_due_at))
            used[(r.customer_id, r.charged_period)] -= 1
            budget[ctx.today] = budget.get(ctx.today, 0) - 1
        outcome = simulate(candidates, rule=rule, tz=ctx.tz, today=ctx.today,
                           used=used, budget_used=budget)
    sent_on = Counter(outcome[-c][1] for c in owned if outcome[-c][0] == "send")
    later = sorted((d, n) for d, n in sent_on.items() if d != day)
    return Preview(matched=len(rows), today=sent_on.get(day, 0),
                   deferred=sum(n for _, n in later), no_owner=len(rows) - len(owned),
                   expired=sum(1 for c in owned if outcome[-c][0] == "expire"),
                   deferred_to=tuple(later), day=day)


def _competing(ctx: Context, customer_ids: list[int], last: date) -> list[Candidate]:
    """Open messages of these customers not yet charged, due by `last` (any origin)."""
    horizon = local_time(last + timedelta(days=1), "00:00", ctx.tz)
    found = []
    for part in chunks(customer_ids):
        for r in ctx.session.execute(
                select(Delivery.id, Delivery.customer_id, Delivery.due_at,
                       func.coalesce(Delivery.first_due_at, Delivery.due_at).label("first"),
                       func.coalesce(Sop.priority, GroupSend.priority, 0).label("priority"))
                .outerjoin(Sop, Sop.id == Delivery.sop_id)
                .outerjoin(GroupSend, GroupSend.id == Delivery.group_send_id)
                .where(one_of(Delivery.customer_id, part),
                       Delivery.status.in_(OPEN_DELIVERY_STATUSES),
                       Delivery.action.in_(QUOTA_ACTIONS), Delivery.charged_period.is_(None),
                       Delivery.held_since.is_(None), Delivery.due_at < horizon, live_origin())):
            found.append(Candidate(r.id, r.customer_id, r.priority, r.due_at, r.first))
    return found


def _ledger(ctx: Context, customer_ids: list[int], rule, last: date):
    first = period_start(min(ctx.today, last), rule.period)
    used = {}
    for part in chunks(customer_ids):
        for r in ctx.session.execute(
                select(QuotaLedger.customer_id, QuotaLedger.period_start, QuotaLedger.used)
                .where(one_of(QuotaLedger.customer_id, part),
                       QuotaLedger.period_start.between(first, last))):
            used[(r.customer_id, r.period_start)] = r.used
    budget = dict(ctx.session.execute(select(BudgetDay.day, BudgetDay.used)
                                      .where(BudgetDay.day.between(first, last))).all())
    return used, budget


# --- create ------------------------------------------------------------------------
def create(session: Session, now: datetime, spec: Spec, created_by: str,
           visible=None) -> tuple[GroupSend, bool]:
    """The group send with this key: made now (True), or the one already there (False).
    Commits. A repeated key changes nothing, even with a different body."""
    existing = by_key(session, spec.key)
    if existing is not None:
        return existing, False
    counts = preview(session, now, spec, visible)
    due = max(spec.at or now, now)
    group_send = GroupSend(
        key=spec.key, text=spec.text, target=dict(spec.target), senders=list(spec.senders),
        at=due, priority=spec.priority, batch_size=spec.batch_size,
        batch_interval_minutes=spec.batch_interval_minutes, created_by=created_by,
        created_at=now, matched=counts.matched, today=counts.today, deferred=counts.deferred,
        no_owner=counts.no_owner, deferred_to=counts.as_dict()["deferred_to"],
        attachments=list(session.scalars(select(Material).where(
            Material.key.in_(spec.attachments)))))
    session.add(group_send)
    try:
        session.flush()
    except IntegrityError:  # the same key posted at the same moment: that one stands
        session.rollback()
        return by_key(session, spec.key), False
    ctx = Context(session, now)
    rows = select(Customer.id, literal(group_send.id), literal(0), literal("message"),
                  Customer.owner_id, literal(due, UTCDateTime), literal("pending"),
                  literal(now, UTCDateTime)).where(audience(ctx, spec, visible))
    written = session.execute(insert(Delivery).from_select(
        ["customer_id", "group_send_id", "position", "action", "sender_id", "due_at",
         "status", "created_at"], rows).execution_options(preserve_rowcount=True)).rowcount
    audit_bulk(session, "Delivery", f"group send {spec.key}: {written} deliveries",
               {"group_send": spec.key, "deliveries": written})
    session.commit()
    return group_send, True


def cancel(session: Session, group_send: GroupSend, now: datetime) -> int:
    """Nothing not yet handed over goes out any more (its quota charge is given back);
    what was handed over stays. Returns the deliveries cancelled; again: 0. Commits."""
    if group_send.status == "cancelled":
        return 0
    group_send.status, group_send.cancelled_at = "cancelled", now  # audited
    cancelled = cancel_open(session, Delivery.group_send_id == group_send.id,
                            "the group send was cancelled")
    audit_bulk(session, "Delivery", f"group send {group_send.key} cancelled: {cancelled}",
               {"group_send": group_send.key, "cancelled": cancelled})
    session.commit()
    return cancelled


def may_cancel(role: str, username: str, group_send: GroupSend) -> bool:
    """Ops and admin any; a manager the ones they made (theirs reach only their
    department; another's may reach everyone)."""
    return role in ("admin", "ops") or group_send.created_by.removeprefix("api:") == username


def by_key(session: Session, key: str) -> GroupSend | None:
    return session.scalar(select(GroupSend).where(GroupSend.key == key))


def answer(group_send: GroupSend) -> dict:
    """The POST's answer, the same every time (the counts kept at creation)."""
    return {"id": group_send.id, "key": group_send.key, "matched": group_send.matched,
            "today": group_send.today, "deferred": group_send.deferred,
            "no_owner": group_send.no_owner, "deferred_to": group_send.deferred_to or [],
            "at": group_send.at.isoformat()}


def details(group_send: GroupSend) -> dict:
    """The answer plus what it is (GET /group_sends/<key>)."""
    return {**answer(group_send), "status": group_send.status,
            "cancelled_at": group_send.cancelled_at.isoformat()
            if group_send.cancelled_at else None}


def status_counts(session: Session, group_send_ids, visible=None) -> dict[int, dict[str, int]]:
    """group send id -> delivery status -> deliveries (in the reader's customer scope)."""
    ids = list(group_send_ids)
    counts = {i: dict.fromkeys(DELIVERY_STATUSES, 0) for i in ids}
    query = (select(Delivery.group_send_id, Delivery.status, func.count())
             .where(Delivery.group_send_id.in_(ids))
             .group_by(Delivery.group_send_id, Delivery.status))
    if visible is not None:
        query = query.where(Delivery.customer_id.in_(visible))
    for group_send_id, status, n in session.execute(query):
        counts[group_send_id][status] = n
    return counts


def held(session: Session, group_send_id: int, visible=None) -> int:
    """Open deliveries held for want of an active owner."""
    query = select(func.count()).where(Delivery.group_send_id == group_send_id,
                                       Delivery.status.in_(OPEN_DELIVERY_STATUSES),
                                       Delivery.held_since.is_not(None))
    if visible is not None:
        query = query.where(Delivery.customer_id.in_(visible))
    return session.scalar(query)

