"""Priority across ticks (SPEC §5: "priority — not which tick came first — decides").

A delivery charged earlier today whose batch has not been picked up yet may lose
its place to one of higher priority that arrived later (a group send composed at
noon, an SOP message written by a later tick). The planner reopens such charges
for the customers it is planning, decides everything together, and gives back the
charges of the losers, which are deferred like any other.

Safe against a sender starting the same batch: the batches are first touched with a
conditional UPDATE (`status = 'planned'`), which holds their rows (PostgreSQL) or
the database (SQLite) until the tick commits; a sender that already claimed one
(`sending`) keeps its deliveries, and one that claims it after the commit finds the
losers gone from the batch.
"""
from __future__ import annotations

from sqlalchemy import func, select, update

from jobs.context import Context
from jobs.core.quota import period_start
from jobs.core.vocab import QUOTA_ACTIONS
from jobs.core.due import local_time
from models import BudgetDay, Delivery, GroupSend, SendBatch, Sop
from models.one_of import one_of


def reopen(ctx: Context, customer_ids, chunks, hold: bool = True) -> list:
    """Today's charged, not yet handed over deliveries of these customers, their batches
    held for this transaction (unless `hold` is false: the preview only reads); rows
    like the planner's candidates plus the charge."""
    session = ctx.session
    today = period_start(ctx.today, ctx.settings.quota_period)
    start = local_time(ctx.today, "00:00", ctx.tz)
    found = []
    for part in chunks(sorted(customer_ids)):
        found += session.execute(
            select(Delivery.id, Delivery.customer_id, Delivery.due_at, Delivery.batch_id,
                   Delivery.charged_period,
                   func.coalesce(Delivery.first_due_at, Delivery.due_at).label("first_due_at"),
                   func.coalesce(Sop.priority, GroupSend.priority, 0).label("priority"))
            .outerjoin(Sop, Sop.id == Delivery.sop_id)
            .outerjoin(GroupSend, GroupSend.id == Delivery.group_send_id)
            .join(SendBatch, SendBatch.id == Delivery.batch_id)
            .where(one_of(Delivery.customer_id, part), Delivery.status == "pending",
                   Delivery.action.in_(QUOTA_ACTIONS), Delivery.charged_period == today,
                   Delivery.due_at >= start, Delivery.due_at < ctx.horizon,
                   SendBatch.status == "planned")).all()
    if not hold:
        return found
    batches = sorted({r.batch_id for r in found})
    held = set()
    for part in chunks(batches):
        held.update(session.execute(
            update(SendBatch).where(one_of(SendBatch.id, part), SendBatch.status == "planned")
            .values(status="planned").returning(SendBatch.id)
            .execution_options(synchronize_session=False)).scalars())
    return [r for r in found if r.batch_id in held]


def give_back(ctx: Context, rows, chunks) -> None:
    """The reopened deliveries that lost their place: out of their batch, charge returned
    (the caller has already deferred or expired them)."""
    from jobs.planner import release

    if not rows:
        return
    for part in chunks([r.id for r in rows]):
        ctx.session.execute(update(Delivery).where(one_of(Delivery.id, part)).values(
            charged_period=None, batch_id=None).execution_options(synchronize_session=False))
    release(ctx.session, [(r.customer_id, r.charged_period) for r in rows])
    ctx.session.execute(update(BudgetDay).where(BudgetDay.day == ctx.today,
                                                BudgetDay.used >= len(rows))
                        .values(used=BudgetDay.used - len(rows))
                        .execution_options(synchronize_session=False))
