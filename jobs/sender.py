"""Send one batch through its channel, exactly once (DESIGN step 4, "Rules that keep it safe").

`send_batch(session, batch_id, now, channels)`:
1. take the batch's lock (another sender on it -> exit), claim it planned -> sending;
2. re-check each delivery still pending in it: the enrollment still active or the
   stage not left, the customer not lost, the owner still this active sender, the
   quota charge still on the ledger; the others are skipped (with the reason) or
   handed back to the planner (owner moved, charge gone);
3. if an earlier attempt may have gone through unanswered, commit, ask the channel first;
4. record the attempt and commit it with 1-2 (one transaction), call the channel,
   record the outcome per delivery (a second). Under the lock nobody else sees the
   batch between, and a crash before the first commit leaves it as it was.
The database is the ledger: replaying any of it (a retried job, a second worker,
a flushed Redis, a restarted sender) changes nothing already decided.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, object_session

from jobs import metrics
from jobs.channels import Content, NotSent, OutcomeUnknown, Recipient, Rejected
from jobs.core.batching import backoff_seconds
from jobs.planner import chunks, quota_rule, release, wake
from jobs.tick_lock import batch_lock
from models import (
    Customer, Delivery, Employee, Enrollment, Journey, JourneyPlacement, JourneyReminder,
    Material, QuotaLedger, SendBatch, Settings, Sop, Task,
)
from models.one_of import one_of

MAX_ATTEMPTS = 12  # about an hour of backoff; then the batch fails, its reason kept


class RetryLater(Exception):
    """The batch was not handed over this time; the job's Retry (or the next tick) tries again."""


def send_batch(session: Session, batch_id: int, now: datetime, channels) -> str:
    """Returns what happened: queued, done, busy, finished, not_due, paused, empty, failed.
    Raises RetryLater when the channel should be tried again later."""
    with batch_lock(session, batch_id) as held:
        if not held:
            return "busy"
        found = session.execute(
            select(SendBatch, Sop.status, Journey.enabled)
            .outerjoin(Sop, Sop.id == SendBatch.sop_id)
            .outerjoin(Journey, Journey.id == SendBatch.journey_id)
            .where(SendBatch.id == batch_id)
            .execution_options(populate_existing=True)).first()
        if found is None or found[0].status not in ("planned", "sending"):
            return "finished"
        batch, sop_status, journey_enabled = found
        if batch.not_before > now:
            return "not_due"
        if batch.sop_id is not None and sop_status != "running":
            return "paused"
        if batch.journey_id is not None and not journey_enabled:
            return "paused"
        batch.status = "sending"  # the claim: committed with the re-check and the attempt
        with session.no_autoflush:  # one UPDATE of the batch for claim and attempt
            recipients, waiting = recheck(session, batch, now)
            if not recipients:
                _finish(session, batch, now, "done", waiting)
                return "empty"
            content = content_of(batch)
        return _hand_over(session, batch, recipients, content, now, channels, waiting)


def _hand_over(session, batch, recipients, content, now, channels, waiting) -> str:
    try:
        channel = channels(batch.channel)  # may say it is not configured (NotSent)
        outcome = None
        if batch.attempt_open:
            session.commit()  # the claim and re-check, before asking the channel
            outcome = channel.find_previous(session, batch, recipients, content)
        if outcome is None:
            batch.attempts += 1
            batch.attempt_open, batch.attempt_at = True, now
            session.commit()  # claim, re-check and attempt on record before the call
            outcome = channel.deliver(session, batch, recipients, content, now)
    except NotSent as exc:
        batch.attempt_open = False
        return _retry_or_fail(session, batch, now, str(exc), waiting)
    except OutcomeUnknown as exc:  # the attempt stays open: the next try asks first
        return _retry_or_fail(session, batch, now, str(exc), waiting)
    except Rejected as exc:
        batch.attempt_open = False
        _fail_deliveries(session, [r.delivery_id for r in recipients], str(exc))
        batch.error = str(exc)[:300]
        _finish(session, batch, now, "failed", waiting)
        return "failed"
    metrics.count_sends(batch.channel, len(recipients))
    by_external = {r.external_id: r.delivery_id for r in recipients}
    failed = {by_external[e]: why for e, why in outcome.failed.items() if e in by_external}
    accepted = [r.delivery_id for r in recipients if r.delivery_id not in failed]
    for part in chunks(accepted):
        session.execute(update(Delivery).where(one_of(Delivery.id, part)).values(
            status="queued", queued_at=now, text=content.text, task_id=outcome.task_id,
            reason=None).execution_options(synchronize_session=False))
    for delivery_id, why in failed.items():
        session.execute(update(Delivery).where(Delivery.id == delivery_id).values(
            status="failed", reason=why[:200]).execution_options(synchronize_session=False))
    batch.attempt_open, batch.error = False, None
    batch.msgid, batch.task_id = outcome.ref, outcome.task_id
    batch.fail_list = sorted(outcome.failed) or None
    batch.status, batch.queued_at = "queued", now
    wake(session, waiting)
    session.commit()
    return "queued"


def _retry_or_fail(session, batch, now, reason: str, waiting) -> str:
    batch.error = reason[:300]
    if batch.attempts >= MAX_ATTEMPTS and not batch.attempt_open:
        _fail_deliveries(session, _pending_ids(session, batch),
                         f"gave up after {batch.attempts} attempts: {reason}")
        _finish(session, batch, now, "failed", waiting)
        return "failed"
    batch.status = "sending" if batch.attempt_open else "planned"
    batch.retry_after = now + timedelta(seconds=backoff_seconds(batch.attempts))
    session.commit()
    raise RetryLater(reason)


def _finish(session, batch, now, status: str, waiting=()) -> None:
    batch.status, batch.finished_at = status, now
    wake(session, waiting)  # their deliveries here are closed now
    session.commit()


def _pending_ids(session, batch) -> list[int]:
    return list(session.scalars(select(Delivery.id).where(
        Delivery.batch_id == batch.id, Delivery.status == "pending")))


def _fail_deliveries(session, ids, reason: str) -> None:
    for part in chunks(ids):
        session.execute(update(Delivery).where(one_of(Delivery.id, part),
                                               Delivery.status == "pending")
                        .values(status="failed", reason=reason[:200])
                        .execution_options(synchronize_session=False))


# --- re-check at send time (SPEC §5) -------------------------------------------------
def recheck(session, batch, now) -> tuple[list[Recipient], list[int]]:
    """The deliveries still to send, and the enrollments waiting on this batch to
    complete (every step written); the others skipped or handed back (not committed:
    the caller commits them with the claim and the attempt)."""
    rule = quota_rule(Settings.get(session))
    rows = session.execute(
        select(Delivery.id, Delivery.customer_id, Delivery.charged_period, Delivery.due_at,
               Delivery.enrollment_id, Enrollment.next_due_at,
               Customer.external_id, Customer.churn_status, Customer.owner_id,
               Employee.active.label("owner_active"), Enrollment.status.label("enrollment"),
               JourneyPlacement.left_at, QuotaLedger.used,
               JourneyReminder.kind.label("reminder_kind"))
        .join(Customer, Customer.id == Delivery.customer_id)
        .outerjoin(Employee, Employee.id == Customer.owner_id)
        .outerjoin(Enrollment, Enrollment.id == Delivery.enrollment_id)
        .outerjoin(JourneyPlacement, JourneyPlacement.id == Delivery.placement_id)
        .outerjoin(JourneyReminder, JourneyReminder.id == Delivery.reminder_id)
        .outerjoin(QuotaLedger, (QuotaLedger.customer_id == Delivery.customer_id)
                   & (QuotaLedger.period_start == Delivery.charged_period))
        .where(Delivery.batch_id == batch.id, Delivery.status == "pending")
        .order_by(Delivery.id)).all()
    keep, skip, replan = [], {}, []
    for r in rows:
        if r.enrollment is not None and r.enrollment != "active":
            skip[r.id] = "skipped: the customer left the SOP"
        elif r.left_at is not None:
            skip[r.id] = "skipped: the customer left the stage"
        elif r.churn_status == "lost" and r.reminder_kind != "followup":
            # a message cannot reach a lost customer; a follow-up reminder (win them
            # back) is the employee's to act on all the same
            skip[r.id] = "skipped: the customer is lost"
        elif r.owner_id != batch.sender_id or not r.owner_active:
            replan.append(r.id)  # a transfer: the planner gives it to the new owner
        elif r.charged_period is None or r.used is None or r.used > rule.limit:
            replan.append(r.id)  # the quota charge is gone or over: plan it again
        else:
            keep.append(Recipient(r.id, r.customer_id, r.external_id))
    for delivery_id, why in skip.items():
        session.execute(update(Delivery).where(Delivery.id == delivery_id).values(
            status="skipped", reason=why).execution_options(synchronize_session=False))
    for part in chunks(replan):
        session.execute(update(Delivery).where(one_of(Delivery.id, part)).values(
            batch_id=None, charged_period=None).execution_options(synchronize_session=False))
    # what will not go out gives its quota back (a charge that is gone has nothing to give)
    gone = set(skip) | set(replan)
    release(session, [(r.customer_id, r.charged_period) for r in rows
                      if r.id in gone and r.used is not None])
    waiting = [r.enrollment_id for r in rows
               if r.enrollment == "active" and r.next_due_at is None and r.id not in gone]
    return keep, waiting


def content_of(batch) -> Content:
    """The step's or reminder's text and attachments as they are now (edits reach
    steps not yet sent); copied onto each delivery when handed over."""
    if batch.group_send_id is not None:
        source = batch.group_send
        return Content(title=source.title, text=source.text, attachments=tuple(
            {"key": m.key, "kind": m.kind, "title": m.title, "url": m.url, "content": m.content}
            for m in source.attachments))
    source = batch.step if batch.step_id is not None else batch.reminder
    if batch.sop_id is not None:  # the day and time tell one step's task from another's
        title = batch.sop.name + (f" · D{source.day} {source.at_time}" if source else "")
    elif batch.reminder is not None:
        title = f"{batch.reminder.stage.name} · D{source.day} {source.hour:02d}:00"
    else:
        title = batch.journey.name
    if source is None:
        return Content(title=title, text="")
    text, materials = source.text or "", list(source.attachments)
    variant = next((v for v in getattr(source, "variants", None) or []
                    if v.get("key") == batch.variant), None) if batch.variant else None
    if variant is not None:  # an A/B variant's own text and attachments
        keys = list(variant.get("attachments") or [])
        found = {m.key: m for m in object_session(batch).scalars(
            select(Material).where(Material.key.in_(keys)))} if keys else {}
        text, materials = variant.get("text") or "", [found[k] for k in keys if k in found]
        title += f" · {batch.variant}"
    return Content(title=title, text=text, attachments=tuple(
        {"key": m.key, "kind": m.kind, "title": m.title, "url": m.url, "content": m.content}
        for m in materials))


# --- marking sent ---------------------------------------------------------------------
def mark_task_done(session, task, now: datetime, by: str) -> int:
    """The employee sent it: the task is done, its queued deliveries `sent`, their batch done."""
    # two clicks at once: the row lock (PostgreSQL) makes the second see it done
    task = session.scalar(select(Task).where(Task.id == task.id).with_for_update()
                          .execution_options(populate_existing=True))
    if task.status != "open":
        return 0
    task.status, task.done_at, task.done_by = "done", now, by  # audited as any write
    if task.rule is not None:  # a follow-up, a review: its rule moves the customer on
        _rule_task_done(session, task, now, by)
    sent = session.execute(
        update(Delivery).where(Delivery.task_id == task.id, Delivery.status == "queued")
        .values(status="sent", sent_at=now)
        .execution_options(synchronize_session=False, preserve_rowcount=True)).rowcount or 0
    session.execute(update(SendBatch).where(SendBatch.task_id == task.id,
                                            SendBatch.status == "queued")
                    .values(status="done", finished_at=now)
                    .execution_options(synchronize_session=False))
    return sent


def _rule_task_done(session, task, now: datetime, by: str) -> None:
    from jobs import crm_tasks, followups

    if task.rule == "cadence":
        followups.task_done(session, task, now)
    elif task.rule in ("review", "review_rejected"):
        crm_tasks.task_done(session, task, now, by)


def send_due(session, now: datetime, channels) -> dict:
    """Every batch due by `now`, one after the other (`flask sop send`)."""
    from collections import Counter

    from jobs.planner import due_batches

    counts: Counter = Counter()
    for batch_id in due_batches(session, now):
        try:
            outcome = send_batch(session, batch_id, now, channels)
        except RetryLater:
            outcome = "retry_later"
        counts[outcome] += 1
        if outcome == "queued":
            counts["deliveries"] += session.scalar(select(func.count(Delivery.id)).where(
                Delivery.batch_id == batch_id, Delivery.status == "queued"))
    return {"at": now.isoformat(), "deliveries": 0, **dict(sorted(counts.items()))}
