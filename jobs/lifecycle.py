"""SOP lifecycle and hand-made changes: start, pause, resume, end; manual end and
re-add of one customer; journey sync and manual placement. Services: they take the
session and `now`, change rows, and leave commit and enqueueing to the caller.

draft -> initializing (the next tick runs the full evaluation) -> running <-> paused
-> ended (SPEC §3).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, event, inspect, select, update

import jobs.counters  # noqa: F401  (its listener: a changed conversion window)
from jobs.context import Context
from jobs.core.checker import N_
from jobs.core.due import LOOK_AGAIN
from jobs.enrollments import ALL, clock_of, end, enter, held_out
from jobs.placements import place_by_hand
from jobs.planner import cancel_open
from models import (
    Customer, Delivery, Enrollment, Journey, JourneyPlacement, JourneyReminder, JourneyStage, Sop,
    SopStep,
)


# Earlier than any tick's horizon: "write whatever of my steps has come due".


class LifecycleError(ValueError):
    """A move the SOP's or journey's state does not allow; the message says why.

    Raised with a translatable template and its parameters, so the admin can show it
    in the user's language (`localized`) and the API in English (`str`).
    """

    def __init__(self, template: str, **params):
        self.template, self.params = template, params
        super().__init__(template.format(**params))

    def localized(self, gettext) -> str:
        return gettext(self.template).format(**self.params)


def start(session, sop: Sop, now: datetime) -> None:
    if sop.status == "paused":
        return resume(session, sop, now)
    if sop.status != "draft":
        raise LifecycleError(N_("SOP {sop} is {status}; only a draft SOP can start"),
                             sop=sop.key, status=sop.status)
    sop.status, sop.started_at, sop.init_progress = "initializing", now, 0


def pause(session, sop: Sop, now: datetime) -> None:
    if sop.status not in ("running", "initializing"):
        raise LifecycleError(N_("SOP {sop} is {status}; only a running SOP can pause"), sop=sop.key,
                             status=sop.status)
    sop.status = "paused"


def resume(session, sop: Sop, now: datetime) -> None:
    if sop.status != "paused":
        raise LifecycleError(N_("SOP {sop} is {status}; only a paused SOP can resume"), sop=sop.key,
                             status=sop.status)
    # paused before its first evaluation finished: run it now
    sop.status = "running" if sop.initialized_at else "initializing"
    if sop.status == "running" and sop.kind == "new_customer":
        # customers added while paused whose entry window is still open enter now; the
        # others' windows closed while it was paused, so they never do (SPEC §3)
        enter(Context(session, now), sop, ALL,
              added_since=now - timedelta(hours=sop.entry_window_hours))


def end_sop(session, sop: Sop, now: datetime) -> int:
    """End the SOP; its active enrollments end by hand and pending sends are cancelled."""
    if sop.status == "ended":
        raise LifecycleError(N_("SOP {sop} has already ended"), sop=sop.key)
    customers = session.scalars(select(Enrollment.customer_id).where(
        Enrollment.sop_id == sop.id, Enrollment.status == "active")).all()
    ended = end(Context(session, now), sop, customers, "ended_manual", "SOP ended")
    sop.status, sop.ended_at = "ended", now
    return len(ended)


def end_customers(session, sop: Sop, customer_ids, now: datetime, add_tags=(),
                  flow_to: Sop | None = None) -> int:
    """Manual end (手动结束) for one or many customers, with optional tags and flow."""
    if flow_to is not None and flow_to.kind != "nurture":
        raise LifecycleError(N_("can only flow into a nurture SOP; {sop} is {kind}"),
                             sop=flow_to.key, kind=flow_to.kind)
    return len(end(Context(session, now), sop, list(customer_ids), "ended_manual",
                   "ended by hand", add_tags, flow_to))


def enroll_by_hand(session, sop: Sop, customer: Customer, now: datetime) -> Enrollment:
    """Start a playbook for one customer, or re-add a customer whose enrollment ended."""
    if sop.status != "running":
        raise LifecycleError(N_("SOP {sop} is {status}; customers enter only while it runs"),
                             sop=sop.key, status=sop.status)
    ctx = Context(session, now)
    first = clock_of(sop).first(ctx.today, ctx.tz)
    enrollment = session.scalar(select(Enrollment).where(
        Enrollment.sop_id == sop.id, Enrollment.customer_id == customer.id))
    if enrollment is None:
        enrollment = Enrollment(sop_id=sop.id, customer_id=customer.id, round=1,
                                holdout=held_out(sop, customer.id))
        session.add(enrollment)
    elif enrollment.status == "active":
        raise LifecycleError(N_("customer {customer} is already in {sop}"),
                             customer=customer.external_id, sop=sop.key)
    else:
        enrollment.round += 1  # a new round: its deliveries do not collide with the last
    enrollment.status, enrollment.enrolled_at, enrollment.day0 = "active", now, ctx.today
    # a held-out customer stays held out, however often re-added (the control group)
    # no step to write: the tick looks at it once (and completes it)
    enrollment.next_due_at, enrollment.flowed_from_id = first or LOOK_AGAIN, None
    enrollment.ended_at = enrollment.end_reason = enrollment.flow_result = None
    enrollment.converted = None  # a new window: the tick decides it again when it closes
    session.flush()
    return enrollment


def start_sync(session, journey: Journey, now: datetime) -> None:
    """Sync data (同步数据): the next tick places every customer; edits wait until then."""
    if not journey.enabled:
        raise LifecycleError(N_("journey {journey} is not enabled"), journey=journey.key)
    if journey.sync_started_at is not None:
        raise LifecycleError(N_("journey {journey} is already syncing"), journey=journey.key)
    journey.sync_started_at, journey.sync_progress = now, 0


def place_customer(session, journey: Journey, stage: JourneyStage, customer: Customer,
                   now: datetime) -> None:
    if stage.journey_id != journey.id:
        raise LifecycleError(N_("stage {stage} is not in journey {journey}"), stage=stage.key,
                             journey=journey.key)
    place_by_hand(Context(session, now), journey, stage, customer.id)


# --- edits to a running SOP's steps (admin and import alike) ----------------------------
@event.listens_for(SopStep, "before_delete")
def _cancel_pending_of_deleted_step(mapper, connection, step) -> None:
    """Deleting a step cancels its pending sends (SPEC §3)."""
    cancel_open(connection, Delivery.step_id == step.id, "step deleted")


@event.listens_for(SopStep, "before_insert")
def _stamp_added_step(mapper, connection, step) -> None:
    """A step added to a started SOP (the admin form) is stamped with the clock; an
    import stamps it with its own `now` first."""
    if step.added_at is None and step.sop is not None and step.sop.started_at is not None:
        step.added_at = datetime.now(timezone.utc)


@event.listens_for(SopStep, "after_insert")
@event.listens_for(SopStep, "after_update")
def _recheck_enrollments(mapper, connection, step) -> None:
    """A new or moved step: every active enrollment looks at its steps again next tick.

    A moved step's sends not yet handed over are dropped, to be written again at the
    new time (they were never sent, so nothing is lost or sent twice).
    """
    state = inspect(step)
    if any(state.attrs[name].history.deleted for name in ("day", "at_time")):
        connection.execute(delete(Delivery).where(
            Delivery.step_id == step.id, Delivery.status == "pending"))
    connection.execute(update(Enrollment).where(
        Enrollment.sop_id == step.sop_id, Enrollment.status == "active")
        .values(next_due_at=LOOK_AGAIN))


@event.listens_for(JourneyReminder, "after_insert")
@event.listens_for(JourneyReminder, "after_update")
def _recheck_placements(mapper, connection, reminder) -> None:
    """A new or moved reminder reaches the customers already in its stage."""
    _look_again(connection, JourneyPlacement.stage_id == reminder.stage_id)


@event.listens_for(Journey, "after_update")
def _recheck_switches(mapper, connection, journey) -> None:
    """A reminder switch turned back on reaches the customers already in the journey."""
    state = inspect(journey)
    if any(state.attrs[name].history.deleted
           for name in ("stage_reminders", "followup_reminders", "enabled")):
        _look_again(connection, JourneyPlacement.journey_id == journey.id)


def _look_again(connection, where) -> None:
    connection.execute(update(JourneyPlacement).where(
        where, JourneyPlacement.left_at.is_(None)).values(next_due_at=LOOK_AGAIN))
