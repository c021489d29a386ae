"""The tick: changes in, enrollments and stages moved, due deliveries out (DESIGN steps 1-3).

One pass, as of `now`, under the tick lock (a second tick exits at once):
1. finish what a start or a sync asked for: the full evaluation of an SOP that is
   `initializing`, of a journey whose sync has started (set-based, in id ranges,
   committing progress as it goes);
2. read the unprocessed change journal in id order, in chunks, and evaluate only
   those customers: early ends, entries, playbook triggers, journey stages;
3. write the deliveries whose local day has come, run the due tag/stage/task
   steps, end the enrollments whose steps are all done.
Steps 2-3 repeat until a round changes nothing (an auto-tag is itself a change
that may end another SOP), so running the same tick again changes nothing.
4. the CRM side (SPEC §6): churn and dormancy rules before step 2 (dormancy is a
   change the SOPs see); follow-up dates and reviews of the changed customers in
   step 2; due follow-up tasks and escalation of overdue tasks after step 3;
5. plan the day's messages under the quota and split them into batches
   (jobs/planner.py); the job entry point enqueues the due batches after this.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, selectinload

from jobs import crm_rules, crm_tasks, followups
from jobs.context import Context
from jobs.counters import decide_conversions
from jobs.customer_writes import change_tags
from jobs.core.changes import could_make_true, fold, happened_since
from jobs.enrollments import (
    end_early_if_triggered, enroll_decided, enter, within_entry_window,
)
from jobs.materialize import (
    complete_finished, run_internal_steps, write_reminders, write_sop_deliveries,
)
from jobs.conditions_sql import snapshots
from jobs.core.conditions import Condition, CustomerSnapshot, matches
from jobs.placements import place, place_changed
from jobs.planner import make_batches, plan_quota
from jobs.tick_lock import tick_lock
from models import (
    ChangeJournal, Customer, Enrollment, Journey, JourneyPlacement, JourneyRule, JourneyStage, Sop,
)
from models.one_of import one_of

JOURNAL_CHUNK = 2000  # changes evaluated per transaction
ID_RANGE = 100_000  # customers per transaction in a full evaluation
MAX_ROUNDS = 10  # cascades of auto-tags and flows settle long before this
# a journey's stages, rules and reminders in four queries, not one per stage and rule
JOURNEY_RULES = (
    selectinload(Journey.stages).selectinload(JourneyStage.rules)
    .selectinload(JourneyRule.conditions),
    selectinload(Journey.stages).selectinload(JourneyStage.reminders))


def tick(session: Session, now: datetime) -> dict:
    """One evaluator pass; returns a summary (what `flask sop tick` prints)."""
    with tick_lock(session.get_bind()) as held:
        if not held:
            return {"skipped": "another tick is running"}
        summary: Counter = Counter()
        ctx = Context(session, now)
        initialize(ctx, summary)
        summary["churn_warnings"] += crm_rules.churn_warnings(session, ctx.settings, now)
        summary["dormant"] += crm_rules.mark_dormant(session, ctx.settings, now)
        for rounds in range(1, MAX_ROUNDS + 1):
            before = sum(summary.values())
            process_journal(ctx, summary)
            summary["deliveries"] += write_sop_deliveries(ctx)
            summary["reminders"] += write_reminders(ctx)
            summary["internal_steps"] += run_internal_steps(ctx)
            summary["completed"] += complete_finished(ctx)
            session.commit()
            if sum(summary.values()) == before:
                break
        crm_after_changes(ctx, summary)
        for verdict, n in plan_quota(ctx).items():
            summary[f"quota_{verdict}"] += n
        summary["batches"] += make_batches(ctx)
        if decided := decide_conversions(session, now):  # windows closed: data page figures
            summary["conversions_decided"] += decided
        session.commit()
        return {"at": now.isoformat(), "rounds": rounds, **dict(sorted(summary.items()))}


def crm_after_changes(ctx: Context, summary: Counter) -> None:
    session = ctx.session
    summary["followups_planned"] += followups.backfill(session, ctx.settings, ctx.now)
    summary["followup_tasks"] += followups.open_due_tasks(session, ctx.now)
    summary["escalated"] += crm_rules.escalate_overdue(session, ctx.now, ctx.tz)
    session.commit()


# --- full evaluations ----------------------------------------------------------
def _id_ranges(session: Session):
    low, high = session.execute(select(func.min(Customer.id), func.max(Customer.id))).one()
    if low is None:
        return []
    return [(start, min(start + ID_RANGE - 1, high)) for start in range(low, high + 1, ID_RANGE)]


def initialize(ctx: Context, summary: Counter) -> None:
    """Id ranges outer, SOPs and journeys inner: one commit per range for all of them
    (a commit per SOP per range cost 200 commits at 1 M customers and 20 SOPs)."""
    session = ctx.session
    sops = session.scalars(select(Sop).where(Sop.status == "initializing")
                           .order_by(Sop.id)).all()
    journeys = session.scalars(select(Journey).where(Journey.sync_started_at.is_not(None))
                               .order_by(Journey.id)).all()
    evaluated = [s for s in sops if s.kind != "playbook"]  # a playbook starts per event
    ranges = _id_ranges(session) if evaluated or journeys else []
    for done, (low, high) in enumerate(ranges, 1):
        for sop in evaluated:
            summary["entered"] += enter(
                ctx, sop, Customer.id.between(low, high),
                added_since=ctx.now - timedelta(hours=sop.entry_window_hours), full=True)
            sop.init_progress = int(done * 100 / len(ranges))
        for journey in journeys:
            closed, opened = place(ctx, journey, Customer.id.between(low, high),
                                   JourneyPlacement.customer_id.between(low, high))
            summary["stage_moves"] += opened
            journey.sync_progress = int(done * 100 / len(ranges))
        session.commit()
        if done == 1 and session.get_bind().dialect.name == "postgresql":
            # Let the planner see the rows this evaluation writes: planned as if an SOP
            # had no enrollments yet, its NOT EXISTS rescans them all for every customer.
            session.execute(text("ANALYZE enrollments, journey_placements"))
            session.commit()
    for sop in sops:
        sop.status, sop.init_progress, sop.initialized_at = "running", 100, ctx.now
        summary["initialized"] += 1
    for journey in journeys:
        journey.sync_started_at, journey.sync_progress, journey.synced_at = None, 100, ctx.now
        summary["synced"] += 1
    session.commit()


# --- incremental -----------------------------------------------------------------
def process_journal(ctx: Context, summary: Counter) -> None:
    while True:
        rows = ctx.session.execute(
            select(ChangeJournal.id, ChangeJournal.customer_id, ChangeJournal.kind,
                   ChangeJournal.detail, ChangeJournal.at)
            .where(ChangeJournal.processed_at.is_(None))
            .order_by(ChangeJournal.id).limit(JOURNAL_CHUNK)).all()
        if not rows:
            return
        evaluate_changes(ctx, fold((r.customer_id, r.kind, r.detail, r.at) for r in rows), summary)
        ctx.session.execute(
            update(ChangeJournal).where(one_of(ChangeJournal.id, [r.id for r in rows]))
            .values(processed_at=ctx.now).execution_options(synchronize_session=False))
        summary["changes"] += len(rows)
        ctx.session.commit()


def evaluate_changes(ctx: Context, changes: dict, summary: Counter) -> None:
    session, ids = ctx.session, sorted(changes)
    summary["customers"] += len(ids)
    summary["followups_moved"] += followups.refresh(session, ctx.settings, ids, ctx.now)
    summary["reviews"] += crm_tasks.open_reviews(session, ctx.settings, ids, ctx.now)
    sops = session.scalars(
        select(Sop).where(Sop.status.in_(("running", "paused")))
        .options(selectinload(Sop.steps), selectinload(Sop.members),
                 selectinload(Sop.departments)).order_by(Sop.priority.desc(), Sop.id)).all()
    # Early ends first: only enrollments made before these changes can be ended by them.
    # Their auto-tags go on after all of them, a statement set per tag set, not per SOP;
    # an early end another SOP's auto-tag brings about follows when the journal hands
    # that tag change back (its next chunk).
    active, tags_later = defaultdict(list), {}
    for sop_id, customer_id in session.execute(
            select(Enrollment.sop_id, Enrollment.customer_id)
            .where(one_of(Enrollment.customer_id, ids), Enrollment.status == "active")):
        active[sop_id].append(customer_id)
    for sop in sops:
        condition = ctx.early_end_condition(sop)
        if condition is None or not active.get(sop.id):
            continue
        woken = [c for c in active[sop.id] if could_make_true(condition, changes[c])]
        summary["ended_early"] += len(end_early_if_triggered(ctx, sop, woken, tags_later))
    for tags, customer_ids in tags_later.items():
        change_tags(session, sorted(set(customer_ids)), ctx.now, add=list(tags))
    # Read after the early ends (their auto-tags count): the changed customers as the
    # predicate sees them. Who enters which SOP is decided over them and written in one
    # statement, and the journeys' stages come from the same snapshots: a tick's cost
    # follows the change.
    customers = snapshots(session, ids)
    added, decided = {c: snap.added_at for c, snap in customers.items()}, []
    for sop in sops:
        if sop.status != "running":
            continue
        if sop.kind == "playbook":  # started by its event, if that came after the start
            ids_for = [c for c in ids
                       if happened_since(changes[c], sop.trigger_event, sop.started_at)]
        elif sop.kind == "new_customer":
            ids_for = within_entry_window(sop, changes, added)
        else:
            ids_for = ids
        entry, early = ctx.entry_condition(sop), ctx.early_end_condition(sop)
        decided.append((sop, [c for c in ids_for if c in customers
                              and may_enter(entry, early, customers[c])]))
    summary["entered"] += enroll_decided(ctx, decided, added)
    touched = {c: customers[c] for c in ids if changes[c].touches_journeys and c in customers}
    if touched:
        for journey in session.scalars(select(Journey).where(
                Journey.enabled, Journey.automation).order_by(Journey.id)
                .options(*JOURNEY_RULES)):
            closed, opened = place_changed(ctx, journey, touched)
            summary["stage_moves"] += opened + closed


def may_enter(entry: Condition, early: Condition | None, customer: CustomerSnapshot) -> bool:
    """The SOP's target holds and its early-end rule does not (the entry-conflict rule):
    the same predicate `enter` compiles to SQL (tests/test_conditions_property.py keeps the
    two agreeing); enrolled before is the unique key's, the window the caller's."""
    return matches(entry, customer) and (early is None or not matches(early, customer))
