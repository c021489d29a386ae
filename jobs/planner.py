"""The quota planner and batching, as the tick runs them (DESIGN step 3).

1. `plan_quota`: every message or reminder due by the end of the local day and not
   yet charged is decided together by `jobs.core.quota.plan` (priority first);
   winners are charged to the ledger (one row per customer and period, unique) and
   the budget, the others deferred or expired with the reason. A delivery whose
   customer has no active owner is held instead, never sent from nobody.
2. `make_batches`: charged, pending deliveries without a batch are grouped per
   (step or reminder, sender, due time) and split by the SOP's size and interval.
The ledger only grows here; the sender re-checks it before sending.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from jobs import preemption
from jobs.context import Context
from jobs.core.batching import split
from jobs.core.due import LOOK_AGAIN
from jobs.core.quota import Candidate, QuotaRule, period_start, plan
from jobs.core.vocab import MAX_BATCH_SIZE, OPEN_DELIVERY_STATUSES, QUOTA_ACTIONS
from models import (
    BudgetDay, Customer, Delivery, Employee, Enrollment, GroupSend, Journey, QuotaLedger,
    SendBatch, Settings,
    Sop,
)
from models.one_of import one_of

CHUNK = 2000  # ids per IN list
REMINDER_BATCH = (MAX_BATCH_SIZE, 0)  # journey reminders: one inbox task per due time


def quota_rule(settings: Settings) -> QuotaRule:
    return QuotaRule(limit=settings.quota_limit, period=settings.quota_period,
                     daily_budget=settings.daily_budget,
                     max_lateness_days=settings.max_lateness_days)


def chunks(ids):
    ids = list(ids)
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def live_origin():
    """A running SOP, an enabled journey or a group send: a paused SOP plans and sends
    nothing new."""
    return or_(Delivery.sop_id.in_(select(Sop.id).where(Sop.status == "running")),
               Delivery.journey_id.in_(select(Journey.id).where(Journey.enabled)),
               Delivery.group_send_id.is_not(None))


# --- 1. quota ---------------------------------------------------------------------
def plan_quota(ctx: Context) -> Counter:
    session, rule = ctx.session, quota_rule(ctx.settings)
    rows = session.execute(
        select(Delivery.id, Delivery.customer_id, Delivery.sender_id, Delivery.due_at,
               func.coalesce(Delivery.first_due_at, Delivery.due_at).label("first_due_at"),
               func.coalesce(Sop.priority, GroupSend.priority, 0).label("priority"),
               Customer.owner_id, Employee.active.label("owner_active"))
        .outerjoin(Sop, Sop.id == Delivery.sop_id)
        .outerjoin(GroupSend, GroupSend.id == Delivery.group_send_id)
        .join(Customer, Customer.id == Delivery.customer_id)
        .outerjoin(Employee, Employee.id == Customer.owner_id)
        .where(Delivery.status.in_(OPEN_DELIVERY_STATUSES), Delivery.action.in_(QUOTA_ACTIONS),
               Delivery.charged_period.is_(None), Delivery.due_at < ctx.horizon, live_origin())
    ).all()
    counts: Counter = Counter()
    if not rows:
        return counts
    held = [r for r in rows if not r.owner_active]
    _hold(ctx, [r.id for r in held if not _too_late(r, rule, ctx)], counts)
    _set_status(ctx, [r.id for r in held if _too_late(r, rule, ctx)], "expired",
                f"no active owner for more than {rule.max_lateness_days} days")
    owned = [r for r in rows if r.owner_active]
    _follow_owner(ctx, owned)
    used, budget_used = _ledger(ctx, rule, {r.customer_id for r in owned})
    reopened = {r.id: r for r in preemption.reopen(ctx, {r.customer_id for r in owned}, chunks)}
    for r in reopened.values():  # they compete again for the room they hold
        used[(r.customer_id, r.charged_period)] -= 1
        budget_used[ctx.today] = budget_used.get(ctx.today, 0) - 1
    decisions = plan((Candidate(r.id, r.customer_id, r.priority, r.due_at, r.first_due_at)
                      for r in (*owned, *reopened.values())), rule=rule, tz=ctx.tz,
                     today=ctx.today, used=used, budget_used=budget_used)
    decisions = [d for d in decisions if not (d.id in reopened and d.verdict == "send")]
    customer_of = {r.id: r.customer_id for r in owned}
    charged: dict[tuple, list[int]] = defaultdict(list)
    deferred: dict[tuple, list[int]] = defaultdict(list)
    expired: dict[str, list[int]] = defaultdict(list)
    for d in decisions:  # grouped, so that 100,000 decisions are a few hundred statements
        counts[d.verdict] += 1
        if d.verdict == "send":
            charged[(d.period, d.day)].append(d.id)
        elif d.verdict == "defer":
            deferred[(d.due_at, d.reason)].append(d.id)
        else:
            expired[d.reason].append(d.id)
    for (due, reason), ids in deferred.items():
        for part in chunks(ids):  # SET reads the old row: first_due_at keeps the first due
            session.execute(update(Delivery).where(one_of(Delivery.id, part)).values(
                status="deferred", due_at=due, reason=reason, held_since=None,
                first_due_at=func.coalesce(Delivery.first_due_at, Delivery.due_at))
                .execution_options(synchronize_session=False))
    for reason, ids in expired.items():
        _set_status(ctx, ids, "expired", reason)
    preemption.give_back(ctx, [reopened[d.id] for d in decisions if d.id in reopened], chunks)
    for (period, day), ids in charged.items():
        for part in chunks(ids):
            session.execute(update(Delivery).where(one_of(Delivery.id, part)).values(
                status="pending", charged_period=period, held_since=None, reason=None)
                .execution_options(synchronize_session=False))
        _add_usage(ctx, Counter(customer_of[i] for i in ids), period, day)
    return counts


def _too_late(row, rule: QuotaRule, ctx: Context) -> bool:
    first_day = row.first_due_at.astimezone(ctx.tz).date()
    return ctx.today > first_day + timedelta(days=rule.max_lateness_days)


def _hold(ctx: Context, ids: list[int], counts: Counter) -> None:
    for part in chunks(ids):
        counts["held"] += ctx.session.execute(
            update(Delivery).where(one_of(Delivery.id, part), Delivery.held_since.is_(None))
            .values(held_since=ctx.now, reason="held: the customer has no active owner")
            .execution_options(synchronize_session=False, preserve_rowcount=True)).rowcount or 0


def _set_status(ctx: Context, ids: list[int], status: str, reason: str | None) -> None:
    for part in chunks(ids):
        waited = ctx.session.scalars(update(Delivery).where(one_of(Delivery.id, part)).values(
            status=status, reason=reason).returning(Delivery.enrollment_id)
            .execution_options(synchronize_session=False)).all()
        if status not in OPEN_DELIVERY_STATUSES:
            wake(ctx.session, waited)


def _follow_owner(ctx: Context, rows) -> None:
    """The sender is the customer's owner now (a transfer moves what is not yet sent)."""
    moved = defaultdict(list)
    for r in rows:
        if r.sender_id != r.owner_id:
            moved[r.owner_id].append(r.id)
    for owner_id, ids in moved.items():
        for part in chunks(ids):
            ctx.session.execute(update(Delivery).where(one_of(Delivery.id, part)).values(
                sender_id=owner_id).execution_options(synchronize_session=False))


def _ledger(ctx: Context, rule: QuotaRule, customer_ids: set[int]):
    first = period_start(ctx.today, rule.period)
    last = ctx.today + timedelta(days=rule.max_lateness_days)
    used = {}
    for part in chunks(sorted(customer_ids)):
        for row in ctx.session.execute(
                select(QuotaLedger.customer_id, QuotaLedger.period_start, QuotaLedger.used)
                .where(one_of(QuotaLedger.customer_id, part),
                       QuotaLedger.period_start.between(first, last))):
            used[(row.customer_id, row.period_start)] = row.used
    budget_used = dict(ctx.session.execute(
        select(BudgetDay.day, BudgetDay.used).where(BudgetDay.day.between(ctx.today, last))).all())
    return used, budget_used


def _insert_for(session):
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql"
            else sqlite.insert)


def _add_usage(ctx: Context, per_customer: Counter, period: date, day: date) -> None:
    """used += n per (customer, period), creating the rows; the budget day likewise."""
    insert = _insert_for(ctx.session)
    stmt = insert(QuotaLedger)
    stmt = stmt.on_conflict_do_update(  # one statement run with a list of rows: compiled once
        index_elements=["customer_id", "period_start"],
        set_={"used": QuotaLedger.used + stmt.excluded.used})
    values = [{"customer_id": c, "period_start": period, "used": n}
              for c, n in sorted(per_customer.items())]
    for start in range(0, len(values), CHUNK * 10):
        ctx.session.execute(stmt, values[start:start + CHUNK * 10])
    total = sum(per_customer.values())
    stmt = insert(BudgetDay).values(day=day, used=total)
    ctx.session.execute(stmt.on_conflict_do_update(
        index_elements=["day"], set_={"used": BudgetDay.used + stmt.excluded.used}))


def release(session, charges) -> None:
    """Give back charges that will not be sent: (customer id, period start) pairs."""
    for (customer_id, period), n in Counter(charges).items():
        session.execute(update(QuotaLedger).where(
            QuotaLedger.customer_id == customer_id, QuotaLedger.period_start == period,
            QuotaLedger.used >= n).values(used=QuotaLedger.used - n)
            .execution_options(synchronize_session=False))


def cancel_open(executor, where, reason: str) -> int:
    """Cancel the pending and deferred deliveries matching `where`; what was charged to
    the quota is given back (a session or, in mapper events, a connection)."""
    rows = executor.execute(
        update(Delivery).where(where, Delivery.status.in_(OPEN_DELIVERY_STATUSES))
        .values(status="cancelled", reason=reason)
        .returning(Delivery.customer_id, Delivery.charged_period, Delivery.enrollment_id)
        .execution_options(synchronize_session=False)).all()
    release(executor, [(c, p) for c, p, _ in rows if p is not None])
    wake(executor, [e for _, _, e in rows])
    return len(rows)


def wake(executor, enrollment_ids) -> None:
    """Deliveries of these enrollments closed. One that waited on them (every step
    written, next_due_at NULL) is looked at again by the next tick, which completes it
    when nothing is left open: the tick never rescans the waiting ones
    (materialize.complete_finished)."""
    ids = sorted({i for i in enrollment_ids if i is not None})
    for start in range(0, len(ids), CHUNK):
        executor.execute(
            update(Enrollment).where(one_of(Enrollment.id, ids[start:start + CHUNK]),
                                     Enrollment.status == "active",
                                     Enrollment.next_due_at.is_(None))
            .values(next_due_at=LOOK_AGAIN).execution_options(synchronize_session=False))


def correct_ledger(session, customer_id: int, period: date, limit: int) -> None:
    """WeCom said the customer's quota was already used (status 3): the period is full."""
    insert = _insert_for(session)
    stmt = insert(QuotaLedger).values(customer_id=customer_id, period_start=period, used=limit)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["customer_id", "period_start"],
        set_={"used": func.max(QuotaLedger.used, stmt.excluded.used)
              if session.get_bind().dialect.name == "sqlite"
              else func.greatest(QuotaLedger.used, stmt.excluded.used)}))


# --- 2. batches -------------------------------------------------------------------
BATCH_KEY = ("sop_id", "step_id", "variant", "journey_id", "reminder_id", "group_send_id",
             "sender_id", "due_at")


def make_batches(ctx: Context) -> int:
    session = ctx.session
    rows = session.execute(
        select(Delivery.id, *(getattr(Delivery, k) for k in BATCH_KEY))
        .where(Delivery.status == "pending", Delivery.charged_period.is_not(None),
               Delivery.batch_id.is_(None), Delivery.held_since.is_(None),
               Delivery.sender_id.is_not(None), live_origin())).all()
    groups: dict[tuple, list[int]] = defaultdict(list)
    for row in rows:
        groups[tuple(getattr(row, k) for k in BATCH_KEY)].append(row.id)
    origin_ids = [dict(zip(BATCH_KEY, key)) for key in groups]
    sops = {s.id: s for s in session.scalars(
        select(Sop).where(Sop.id.in_({k["sop_id"] for k in origin_ids if k["sop_id"]})))}
    group_sends = {g.id: g for g in session.scalars(select(GroupSend).where(
        GroupSend.id.in_({k["group_send_id"] for k in origin_ids if k["group_send_id"]})))}
    made = 0
    for key, ids in groups.items():
        fields = dict(zip(BATCH_KEY, key))
        # an SOP step or a group send batches as it says; reminders: one task per due time
        origin = sops.get(fields["sop_id"]) or group_sends.get(fields["group_send_id"])
        size, interval = ((origin.batch_size, origin.batch_interval_minutes) if origin
                          else REMINDER_BATCH)
        channel = ctx.settings.channel if origin else "task"  # reminders go to the inbox
        earlier = session.scalar(select(func.count(SendBatch.id)).where(
            *(getattr(SendBatch, k) == v if v is not None else getattr(SendBatch, k).is_(None)
              for k, v in fields.items())))
        for planned in split(ids, due_at=fields["due_at"], size=size,
                             interval_minutes=interval, first_seq=earlier):
            batch = SendBatch(**fields, channel=channel, seq=planned.seq,
                              not_before=planned.not_before, size=len(planned.delivery_ids),
                              created_at=ctx.now)
            session.add(batch)
            session.flush()
            session.execute(update(Delivery).where(one_of(Delivery.id, planned.delivery_ids))
                            .values(batch_id=batch.id)
                            .execution_options(synchronize_session=False))
            made += 1
    return made


def due_batches(session, now, *, include_open_attempts: bool = True) -> list[int]:
    """Batches whose time has come: planned ones, and (for recovery) those left
    `sending` by a sender that is no longer there; of running SOPs or enabled journeys."""
    statuses = ("planned", "sending") if include_open_attempts else ("planned",)
    return list(session.scalars(
        select(SendBatch.id)
        .outerjoin(Sop, Sop.id == SendBatch.sop_id)
        .outerjoin(Journey, Journey.id == SendBatch.journey_id)
        .where(SendBatch.status.in_(statuses), SendBatch.not_before <= now,
               or_(SendBatch.retry_after.is_(None), SendBatch.retry_after <= now),
               or_(Sop.status == "running", and_(SendBatch.sop_id.is_(None), Journey.enabled),
                   SendBatch.group_send_id.is_not(None)))
        .order_by(SendBatch.not_before, SendBatch.id)))
