"""Customers into and out of SOPs: entry, early/manual/normal end, flow. Set-based.

Entries are INSERT ... SELECT over the customers a caller scopes (the changed ones
in a tick, an id range when an SOP starts); the unique (sop, customer) constraint,
with ON CONFLICT DO NOTHING, keeps a customer to one enrollment per SOP (SPEC §3).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import (
    BigInteger, Boolean, ColumnElement, Date, Integer, and_, cast, func, literal, not_,
    null, select, true, update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY

from jobs.conditions_sql import condition_sql
from jobs.context import Context
from jobs.core.due import LOOK_AGAIN, Clock, Slot, local_date, local_time
from jobs.customer_writes import change_tags, chunks
from jobs.planner import cancel_open
from models import Customer, Delivery, Enrollment, Sop
from models.base import UTCDateTime
from models.one_of import one_of

INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}  # with ON CONFLICT

HOLDOUT_SPREAD = 7919  # a prime: spreads consecutive ids over the 100 holdout buckets


def clock_of(sop: Sop) -> Clock:
    return Clock(Slot(s.id, s.position, s.day, s.at_time) for s in sop.steps)


def holdout_sql(sop: Sop) -> ColumnElement:
    """Deterministic: the same customer always lands on the same side (SPEC §3)."""
    if not sop.holdout_percent:
        return literal(False, Boolean)
    # BIGINT: from id 271,184 on, id × 7919 leaves INTEGER (PostgreSQL raises an error)
    spread = cast(Customer.id, BigInteger) * HOLDOUT_SPREAD
    return (spread + sop.id) % 100 < sop.holdout_percent


def held_out(sop: Sop, customer_id: int) -> bool:
    """`holdout_sql` for one customer (a test keeps the two agreeing)."""
    return (customer_id * HOLDOUT_SPREAD + sop.id) % 100 < (sop.holdout_percent or 0)


def _not_enrolled(sop: Sop) -> ColumnElement[bool]:
    return ~select(Enrollment.id).where(
        Enrollment.sop_id == sop.id, Enrollment.customer_id == Customer.id).exists()


def _insert(ctx: Context, sop: Sop, where: ColumnElement[bool], day0: date,
            flowed_from: int | None = None, by_key: bool = True) -> int:
    """Enroll the customers `where` selects.

    One enrolled in this SOP before is left out by the unique (sop, customer) key itself
    (ON CONFLICT DO NOTHING), not by a NOT EXISTS: PostgreSQL plans that by the SOP's size
    as last analyzed, and a new-customer SOP analyzed empty was scanned whole for every
    changed customer. `by_key=False`: `where` leaves them out already (a full evaluation
    over an id range, where the NOT EXISTS is one hash anti-join and SQLite's upsert
    path would cost a sixth more)."""
    first = clock_of(sop).first(day0, ctx.tz)
    rows = select(
        literal(sop.id), Customer.id, literal("active"), literal(1),
        literal(ctx.now, UTCDateTime), literal(day0, Date),
        literal(first or LOOK_AGAIN, UTCDateTime), holdout_sql(sop),  # no step: look once
        literal(flowed_from) if flowed_from else null(),
    ).where(where)
    insert = INSERT[ctx.session.get_bind().dialect.name](Enrollment).from_select(
        ["sop_id", "customer_id", "status", "round", "enrolled_at", "day0", "next_due_at",
         "holdout", "flowed_from_id"], rows)
    if by_key:
        insert = insert.on_conflict_do_nothing(index_elements=["sop_id", "customer_id"])
    result = ctx.session.execute(insert.execution_options(preserve_rowcount=True))
    return result.rowcount or 0


def target_where(ctx: Context, sop: Sop) -> ColumnElement[bool]:
    """Matches the target, not the early-end condition (the entry-conflict rule)."""
    where = condition_sql(ctx.entry_condition(sop))
    early = ctx.early_end_condition(sop)
    return where if early is None else and_(where, not_(condition_sql(early)))


def entry_where(ctx: Context, sop: Sop) -> ColumnElement[bool]:
    """`target_where` and never enrolled in this SOP (the new-customer window is the
    caller's): who would enter, for counting (jobs/preview.py)."""
    return and_(target_where(ctx, sop), _not_enrolled(sop))


def enter(ctx: Context, sop: Sop, scope: ColumnElement[bool],
          added_since: datetime | None = None, full: bool = False) -> int:
    """Enroll the customers in `scope` who match the SOP's target now.

    The entry-conflict rule: one who also satisfies the early-end condition does not
    enter. A new-customer SOP takes only customers added since it started, and
    `added_since` bounds the entry window when the caller has not already checked it
    per customer; their day 0 is the local day they were added. `full`: `scope` is an
    id range of a full evaluation (see `_insert`), not a tick's changed customers.
    """
    where = and_(scope, target_where(ctx, sop))
    if full:
        where = and_(where, _not_enrolled(sop))
    if sop.kind != "new_customer":
        return _insert(ctx, sop, where, ctx.today, by_key=not full)
    where = and_(where, Customer.added_at >= (sop.started_at or ctx.now))
    if added_since is not None:
        where = and_(where, Customer.added_at >= added_since)
    first, last = ctx.session.execute(
        select(func.min(Customer.added_at), func.max(Customer.added_at)).where(where)).one()
    if first is None:
        return 0
    entered, day = 0, local_date(first, ctx.tz)
    while day <= local_date(last, ctx.tz):  # one statement per local add day: day 0 is a literal
        start = local_time(day, "00:00", ctx.tz)
        end = local_time(day + timedelta(days=1), "00:00", ctx.tz)
        window = and_(Customer.added_at >= start, Customer.added_at < end)
        entered += _insert(ctx, sop, and_(where, window), day, by_key=not full)
        day += timedelta(days=1)
    return entered


def enroll_decided(ctx: Context, decided: Sequence[tuple[Sop, Sequence[int]]],
                   added: dict[int, datetime]) -> int:
    """The tick's entries: customers the predicate over their snapshots let into each SOP
    (target, early-end rule, window: jobs/evaluator.py), written in one statement for
    all SOPs; one enrolled in an SOP before is left out by the unique key (ON CONFLICT).

    A statement per SOP, each re-checking its target in SQL, was 30 statements a tick at
    1 M customers (BENCHMARKS.md). Day 0 is the local add day in a new-customer SOP,
    else today; the holdout is `held_out`, the same split `holdout_sql` makes.
    """
    rows = []
    for sop, customer_ids in decided:
        clock, first = clock_of(sop), {}
        for customer_id in customer_ids:
            day0 = (local_date(added[customer_id], ctx.tz) if sop.kind == "new_customer"
                    else ctx.today)
            if day0 not in first:
                first[day0] = clock.first(day0, ctx.tz) or LOOK_AGAIN  # no step: look once
            rows.append({"sop_id": sop.id, "customer_id": customer_id, "status": "active",
                         "round": 1, "enrolled_at": ctx.now, "day0": day0,
                         "next_due_at": first[day0], "holdout": held_out(sop, customer_id)})
    if not rows:
        return 0
    dialect = ctx.session.get_bind().dialect.name
    if dialect == "postgresql":  # one statement, so the counters' trigger runs once
        table = func.unnest(*(literal([r[k] for r in rows], ARRAY(t)) for k, t in UNNESTED))
        new = table.table_valued(*(k for k, _ in UNNESTED)).render_derived()
        statement = INSERT[dialect](Enrollment).from_select(
            [k for k, _ in UNNESTED] + ["status", "round", "enrolled_at"],
            select(*(new.c[k] for k, _ in UNNESTED), literal("active"), literal(1),
                   literal(ctx.now, UTCDateTime)))
        result = ctx.session.execute(
            statement.on_conflict_do_nothing(index_elements=["sop_id", "customer_id"])
            .execution_options(preserve_rowcount=True))
    else:  # SQLite's triggers run per row anyway; an executemany compiles once
        result = ctx.session.execute(
            INSERT[dialect](Enrollment.__table__).on_conflict_do_nothing(
                index_elements=["sop_id", "customer_id"])
            .execution_options(preserve_rowcount=True), rows)
    return result.rowcount or 0


UNNESTED = (("sop_id", Integer), ("customer_id", Integer), ("day0", Date),
            ("next_due_at", UTCDateTime), ("holdout", Boolean))


def within_entry_window(sop: Sop, changes: dict, added: dict[int, datetime]) -> list[int]:
    """Changed customers whose change came within the SOP's entry window of their add
    (`added`: when each was added, from the tick's snapshots).

    Measured from when the change happened, not when the tick runs, so a late tick
    (an outage, a replay) decides as a timely one would have.
    """
    window = timedelta(hours=sop.entry_window_hours)
    return [c for c in sorted(changes) if c in added
            if sop.started_at is None or added[c] >= sop.started_at
            if changes[c].last_at is None or changes[c].last_at - added[c] <= window]


def end(ctx: Context, sop: Sop, customer_ids: Sequence[int], status: str, reason: str,
        add_tags: Sequence[str] = (), flow_to: Sop | None = None,
        tags_later: dict[tuple[str, ...], list[int]] | None = None) -> list[int]:
    """End these customers' active enrollments in `sop`; auto-tags, then the flow.

    `tags_later`: collect the auto-tags there (by tag set) for the caller to add in one
    go, instead of now (the tick's early ends: many SOPs, often the same tag).
    Returns the customers whose enrollment this call ended (others had already ended).
    """
    ended: list[int] = []
    for part in chunks(customer_ids):
        rows = ctx.session.execute(
            update(Enrollment)
            .where(Enrollment.sop_id == sop.id, one_of(Enrollment.customer_id, part),
                   Enrollment.status == "active")
            .values(status=status, ended_at=ctx.now, end_reason=reason, next_due_at=None)
            .returning(Enrollment.id, Enrollment.customer_id)
            .execution_options(synchronize_session=False)).all()
        if not rows:
            continue
        cancel_open(ctx.session, one_of(Delivery.enrollment_id, [r.id for r in rows]), reason)
        ended.extend(r.customer_id for r in rows)
    if tags_later is not None and add_tags and ended:
        tags_later.setdefault(tuple(add_tags), []).extend(ended)
    else:
        change_tags(ctx.session, ended, ctx.now, add=list(add_tags or ()))
    if flow_to is not None and ended:
        flow(ctx, sop, flow_to, ended)
    return ended


def flow(ctx: Context, source: Sop, target: Sop, customer_ids: Sequence[int]) -> int:
    """Enroll into `target` (a nurture SOP) regardless of its early-end rule.

    A customer already enrolled there once is skipped; the ending enrollment
    records what became of its flow either way.
    """
    if target.kind != "nurture" or target.status not in ("running", "paused"):
        _flow_result(ctx, source, customer_ids, f"skipped: {target.key} is not a running "
                                                  "nurture SOP")
        return 0
    entered = 0
    for part in chunks(customer_ids):
        already = set(ctx.session.scalars(select(Enrollment.customer_id).where(
            Enrollment.sop_id == target.id, one_of(Enrollment.customer_id, part))))
        entered += _insert(ctx, target, one_of(Customer.id, part), ctx.today,
                           flowed_from=source.id)
        _flow_result(ctx, source, [c for c in part if c in already],
                     f"skipped: already enrolled in {target.key}")
        _flow_result(ctx, source, [c for c in part if c not in already],
                     f"entered {target.key}")
    return entered


def _flow_result(ctx: Context, source: Sop, customer_ids: Sequence[int], result: str) -> None:
    if customer_ids:
        ctx.session.execute(
            update(Enrollment)
            .where(Enrollment.sop_id == source.id, one_of(Enrollment.customer_id, customer_ids))
            .values(flow_result=result).execution_options(synchronize_session=False))


def end_early_if_triggered(ctx: Context, sop: Sop, candidate_ids: Sequence[int],
                           tags_later: dict | None = None) -> list[int]:
    """Of the customers whose changes could trigger the rule, end those it now holds for
    (`tags_later` as in `end`)."""
    condition = ctx.early_end_condition(sop)
    if condition is None or not candidate_ids:
        return []
    holding = list(ctx.session.scalars(select(Customer.id).where(
        one_of(Customer.id, sorted(candidate_ids)), condition_sql(condition),
        select(Enrollment.id).where(Enrollment.sop_id == sop.id,
                                    Enrollment.customer_id == Customer.id,
                                    Enrollment.status == "active").exists())))
    return end(ctx, sop, holding, "ended_early", "early end rule",
               sop.early_end_add_tags, sop.early_end_flow_to, tags_later)


ALL = true()
