"""Due deliveries out: write one delivery per (enrollment, step) and (placement, reminder)
whose local day has come, run the internal steps (tag, stage, task) that are due,
and end enrollments whose steps are all done (SPEC §3 normal end).

Writing goes by (SOP, day 0) group: within a group every due time is a literal,
so one INSERT ... SELECT per step writes the whole group; the unique constraints
plus NOT EXISTS make a re-run write nothing.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import BigInteger, and_, case, cast, insert, literal, null, select, update

from jobs.context import Context
from jobs.core.due import due_at
from jobs.core.variants import BUCKETS, SPREAD, thresholds
from jobs.core.vocab import OPEN_DELIVERY_STATUSES
from jobs.customer_writes import CHUNK, change_tags, set_stage
from jobs.enrollments import clock_of, flow
from jobs.placements import reminder_clock
from models import (
    Customer, Delivery, Employee, Enrollment, Journey, JourneyPlacement, JourneyStage, Sop, SopStep,
    Task,
)
from models.base import UTCDateTime
from models.one_of import one_of

ACTIVE_SOP = ("running",)  # a paused SOP writes and sends nothing new


def _not_before(column, due):
    """A step already past at entry is due at once: the later of the two."""
    return case((column > literal(due, UTCDateTime), column), else_=literal(due, UTCDateTime))


def variant_sql(step: SopStep, sop_id: int):
    """The A/B variant key each enrollment gets (jobs/core/variants.py `pick`, in SQL)."""
    variants = step.variants or []
    if step.action != "message" or len(variants) < 2:
        return null()
    weights = [int(v.get("weight") or 1) for v in variants]
    total = sum(weights)
    b = (cast(Enrollment.customer_id, BigInteger) * SPREAD + sop_id * 31) % BUCKETS
    return case(*[(b * total < cut * BUCKETS, literal(v["key"]))
                  for v, cut in zip(variants, thresholds(weights))],
                else_=literal(variants[-1]["key"]))


LATE_STEP = "step added after its time had passed"


def _skip_reasons(step: SopStep, due) -> list[tuple]:
    """(condition, reason) under which an enrollment's delivery of `step` is written
    as skipped: a held-out customer gets no message; a step added to a started SOP
    after its due time for an enrollment already in it is not sent late (SPEC §3)."""
    skips = [(and_(Enrollment.holdout, literal(step.action == "message")), "holdout")]
    if step.added_at is not None and due < step.added_at:
        skips.append((Enrollment.enrolled_at < literal(step.added_at, UTCDateTime), LATE_STEP))
    return skips


def write_sop_deliveries(ctx: Context) -> int:
    horizon = ctx.horizon
    groups = ctx.session.execute(
        select(Enrollment.sop_id, Enrollment.day0).distinct()
        .join(Sop, Sop.id == Enrollment.sop_id)
        .where(Enrollment.status == "active", Enrollment.next_due_at < horizon,
               Sop.status.in_(ACTIVE_SOP))).all()
    written = 0
    sops = {s.id: s for s in ctx.session.scalars(
        select(Sop).where(Sop.id.in_({g.sop_id for g in groups})))}
    for sop_id, day0 in groups:
        sop = sops[sop_id]
        clock, steps = clock_of(sop), {s.id: s for s in sop.steps}
        picked = and_(Enrollment.sop_id == sop_id, Enrollment.day0 == day0,
                      Enrollment.status == "active", Enrollment.next_due_at < horizon)
        for slot in clock.due_by(day0, ctx.today):
            step, due = steps[slot.id], due_at(day0, slot, ctx.tz)
            skips = _skip_reasons(step, due)
            rows = (
                select(Enrollment.customer_id, literal(sop_id), Enrollment.id, literal(step.id),
                       Enrollment.round, literal(step.position), literal(step.key),
                       literal(step.action), variant_sql(step, sop_id), Customer.owner_id,
                       _not_before(Enrollment.enrolled_at, due),
                       case(*[(w, literal("skipped")) for w, _ in skips],
                            else_=literal("pending")),
                       case(*[(w, literal(r)) for w, r in skips], else_=null()),
                       literal(ctx.now, UTCDateTime))
                .join(Customer, Customer.id == Enrollment.customer_id)
                .where(picked, ~select(Delivery.id).where(
                    Delivery.enrollment_id == Enrollment.id, Delivery.step_id == step.id,
                    Delivery.round == Enrollment.round).exists()))
            result = ctx.session.execute(insert(Delivery).from_select(
                ["customer_id", "sop_id", "enrollment_id", "step_id", "round", "position",
                 "step_key", "action", "variant", "sender_id", "due_at", "status", "reason",
                 "created_at"],
                rows).execution_options(preserve_rowcount=True))
            written += result.rowcount or 0
        following = clock.next_after(day0, ctx.today, ctx.tz)
        moved = ctx.session.scalars(update(Enrollment).where(picked).values(
            next_due_at=following).returning(Enrollment.id)
            .execution_options(synchronize_session=False)).all()
        if following is None:  # every step written: complete_finished looks at these
            ctx.finished.extend(moved)
    return written


def write_reminders(ctx: Context) -> int:
    horizon = ctx.horizon
    groups = ctx.session.execute(
        select(JourneyPlacement.stage_id, JourneyPlacement.day0).distinct()
        .join(Journey, Journey.id == JourneyPlacement.journey_id)
        .where(JourneyPlacement.left_at.is_(None), JourneyPlacement.next_due_at < horizon,
               Journey.enabled)).all()
    written = 0
    for stage_id, day0 in groups:
        stage = ctx.session.get(JourneyStage, stage_id)
        journey = stage.journey
        clock, reminders = reminder_clock(journey, stage), {r.id: r for r in stage.reminders}
        picked = and_(JourneyPlacement.stage_id == stage_id, JourneyPlacement.day0 == day0,
                      JourneyPlacement.left_at.is_(None), JourneyPlacement.next_due_at < horizon)
        for slot in clock.due_by(day0, ctx.today):
            reminder = reminders[slot.id]
            rows = (
                select(JourneyPlacement.customer_id, literal(journey.id), JourneyPlacement.id,
                       literal(reminder.id), literal(stage.key), literal(reminder.position),
                       literal("reminder"), Customer.owner_id,
                       _not_before(JourneyPlacement.entered_at, due_at(day0, slot, ctx.tz)),
                       literal("pending"), literal(ctx.now, UTCDateTime))
                .join(Customer, Customer.id == JourneyPlacement.customer_id)
                .where(picked, ~select(Delivery.id).where(
                    Delivery.placement_id == JourneyPlacement.id,
                    Delivery.reminder_id == reminder.id).exists()))
            result = ctx.session.execute(insert(Delivery).from_select(
                ["customer_id", "journey_id", "placement_id", "reminder_id", "stage_key",
                 "position", "action", "sender_id", "due_at", "status", "created_at"],
                rows).execution_options(preserve_rowcount=True))
            written += result.rowcount or 0
        ctx.session.execute(update(JourneyPlacement).where(picked).values(
            next_due_at=clock.next_after(day0, ctx.today, ctx.tz))
            .execution_options(synchronize_session=False))
    return written


def run_internal_steps(ctx: Context) -> int:
    """Tag, stage and task steps that are due now: done by the engine itself."""
    due = ctx.session.execute(
        select(Delivery.id, Delivery.step_id, Delivery.customer_id, Delivery.due_at)
        .join(Sop, Sop.id == Delivery.sop_id)
        .where(Delivery.status == "pending", Delivery.action.in_(("tag", "stage", "task")),
               Delivery.due_at <= ctx.now, Sop.status.in_(ACTIVE_SOP))
        .order_by(Delivery.due_at, Delivery.id)).all()
    by_step: dict[int, list] = {}
    for row in due:
        by_step.setdefault(row.step_id, []).append(row)
    for step_id, rows in by_step.items():
        step = ctx.session.get(SopStep, step_id)
        customers = [r.customer_id for r in rows]
        if step.action == "tag":
            change_tags(ctx.session, customers, ctx.now, add=step.add_tags or (),
                        remove=step.remove_tags or ())
            _mark(ctx, rows, "sent", sent_at=ctx.now)
        elif step.action == "stage":
            set_stage(ctx.session, customers, step.stage, ctx.now)
            _mark(ctx, rows, "sent", sent_at=ctx.now)
        else:
            _create_step_tasks(ctx, step, rows)
    return len(due)


def _mark(ctx: Context, rows, status: str, **values) -> None:
    ids = [r.id for r in rows]
    for start in range(0, len(ids), 5000):
        ctx.session.execute(update(Delivery).where(one_of(Delivery.id, ids[start:start + 5000]))
                            .values(status=status, **values)
                            .execution_options(synchronize_session=False))


def _create_step_tasks(ctx: Context, step: SopStep, rows) -> None:
    """One inbox task per customer, for the owner, a role or a named employee."""
    assignee = step.task_assignee or "owner"
    kind, _, name = assignee.partition(":")
    named = None
    if kind == "employee":
        named = ctx.session.scalar(select(Employee.id).where(Employee.userid == name))
    owners = dict(ctx.session.execute(select(Customer.id, Customer.owner_id).where(
        one_of(Customer.id, [r.customer_id for r in rows]))).all())
    for row in rows:
        task = Task(kind="step", status="open", sop_id=step.sop_id, customer_id=row.customer_id,
                    employee_id=owners.get(row.customer_id) if kind == "owner" else named,
                    role=name if kind == "role" else None,
                    title=step.task_title or step.text or "",
                    text=step.text, due_at=row.due_at,
                    deadline_at=row.due_at + timedelta(hours=step.task_deadline_hours or 24))
        ctx.session.add(task)
        ctx.session.flush()
        ctx.session.execute(update(Delivery).where(Delivery.id == row.id).values(
            status="queued", queued_at=ctx.now, task_id=task.id, text=step.text)
            .execution_options(synchronize_session=False))


def complete_finished(ctx: Context) -> int:
    """Normal end: every step written and none still pending or deferred.

    Looks only at the enrollments whose last step was written in this tick
    (`ctx.finished`: write_sop_deliveries; an enrollment waiting on an open delivery
    comes back there when the delivery closes, planner.wake), never at every active
    enrollment with nothing due."""
    candidates, ctx.finished[:] = sorted(set(ctx.finished)), []
    done = []
    for start in range(0, len(candidates), CHUNK):
        done += ctx.session.execute(
            update(Enrollment)
            .where(one_of(Enrollment.id, candidates[start:start + CHUNK]),
                   Enrollment.status == "active", Enrollment.next_due_at.is_(None),
                   Enrollment.sop_id.in_(select(Sop.id).where(Sop.status.in_(ACTIVE_SOP))),
                   ~select(Delivery.id).where(Delivery.enrollment_id == Enrollment.id,
                                              Delivery.status.in_(OPEN_DELIVERY_STATUSES))
                   .exists())
            .values(status="completed", ended_at=ctx.now, end_reason="all steps done")
            .returning(Enrollment.sop_id, Enrollment.customer_id)
            .execution_options(synchronize_session=False)).all()
    by_sop: dict[int, list[int]] = {}
    for sop_id, customer_id in done:
        by_sop.setdefault(sop_id, []).append(customer_id)
    for sop_id, customers in by_sop.items():
        sop = ctx.session.get(Sop, sop_id)
        change_tags(ctx.session, customers, ctx.now, add=sop.normal_end_add_tags or ())
        if sop.normal_end_flow_to is not None:
            flow(ctx, sop, sop.normal_end_flow_to, customers)
    return len(done)
