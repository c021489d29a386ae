"""Deliveries: one per (enrollment, step) or (stage placement, reminder), the ledger of sends.

A delivery is written when its local day comes (the tick), as `pending`; the
unique constraints make writing it twice impossible. Its text is copied only when
it is handed to the sender, so edits to a running SOP reach steps not yet sent.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jobs.core.vocab import BATCH_STATUSES, CHANNELS, DELIVERY_ACTIONS, DELIVERY_STATUSES
from models.base import UTCDateTime, db, in_check, utcnow


# exactly one origin: an SOP enrollment, a journey placement or a group send
ORIGIN_CHECK = " + ".join(f"(CASE WHEN {c} IS NULL THEN 0 ELSE 1 END)" for c in (
    "enrollment_id", "placement_id", "group_send_id")) + " = 1"


class Delivery(db.Model):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "step_id", "round"),
        UniqueConstraint("placement_id", "reminder_id"),
        UniqueConstraint("group_send_id", "customer_id"),
        CheckConstraint(in_check("status", DELIVERY_STATUSES), name="status"),
        CheckConstraint(in_check("action", DELIVERY_ACTIONS), name="action"),
        CheckConstraint(ORIGIN_CHECK, name="origin"),
        Index("ix_deliveries_status_due", "status", "due_at"),
        # (sop, status, position) also covers the data page's funnel (GROUP BY position,
        # status of one SOP) without reading the rows
        Index("ix_deliveries_sop_status", "sop_id", "status", "position"),
        # A delivery has one origin (ORIGIN_CHECK): each origin's index holds only its
        # own rows, so a status change moves three index entries fewer (bench/send.py)
        *(Index(f"ix_deliveries_{name}_status", f"{name}_id", "status",
                sqlite_where=text(f"{name}_id IS NOT NULL"),
                postgresql_where=text(f"{name}_id IS NOT NULL"))
          for name in ("enrollment", "placement", "group_send")),
        Index("ix_deliveries_task_id", "task_id", sqlite_where=text("task_id IS NOT NULL"),
              postgresql_where=text("task_id IS NOT NULL")),
        # the data page's A/B variants (jobs/variant_stats.py): only the variant rows, so
        # an SOP without variants costs nothing (it read the SOP's every delivery)
        Index("ix_deliveries_sop_variant", "sop_id", "status", "variant",
              sqlite_where=text("variant IS NOT NULL"),
              postgresql_where=text("variant IS NOT NULL")),
        Index("ix_deliveries_batch_status", "batch_id", "status"),
        Index("ix_deliveries_customer_status", "customer_id", "status"),
        Index("ix_deliveries_held_since", "held_since"),
        # the data pages and lists: sort by due time, sends per day (all, per SOP),
        # deferrals by their first planned day
        Index("ix_deliveries_due_at", "due_at"),
        Index("ix_deliveries_queued_at", "queued_at", "action"),  # action: the dashboard's
        Index("ix_deliveries_sop_queued", "sop_id", "queued_at", "action"),  # action: covering
        Index("ix_deliveries_sop_sent", "sop_id", "sent_at", "action"),
        Index("ix_deliveries_first_due", "first_due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # from an SOP step ...
    sop_id: Mapped[int | None] = mapped_column(ForeignKey("sops.id", ondelete="CASCADE"))
    enrollment_id: Mapped[int | None] = mapped_column(
        ForeignKey("enrollments.id", ondelete="CASCADE"))
    step_id: Mapped[int | None] = mapped_column(ForeignKey("sop_steps.id", ondelete="SET NULL"))
    round: Mapped[int] = mapped_column(Integer, default=1)
    # ... or from a journey stage's reminder
    journey_id: Mapped[int | None] = mapped_column(
        ForeignKey("journeys.id", ondelete="CASCADE"), index=True)
    placement_id: Mapped[int | None] = mapped_column(
        ForeignKey("journey_placements.id", ondelete="CASCADE"))
    reminder_id: Mapped[int | None] = mapped_column(
        ForeignKey("journey_reminders.id", ondelete="SET NULL"))
    stage_key: Mapped[str | None] = mapped_column(String(64))
    # ... or from a manual group send (one per customer)
    group_send_id: Mapped[int | None] = mapped_column(
        ForeignKey("group_sends.id", ondelete="CASCADE"))
    # 0-based, in the SOP's steps or the stage's reminders
    position: Mapped[int] = mapped_column(Integer)
    step_key: Mapped[str | None] = mapped_column(String(64))
    variant: Mapped[str | None] = mapped_column(String(64))  # the A/B variant's key, if any
    action: Mapped[str] = mapped_column(String(10))
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id"), index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # lateness counts from it
    # the quota planner's decision: the ledger period charged, then the batch
    charged_period: Mapped[date | None] = mapped_column(Date)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("send_batches.id", ondelete="SET NULL"))
    held_since: Mapped[datetime | None] = mapped_column(UTCDateTime)  # no active owner to send
    status: Mapped[str] = mapped_column(String(10), default="pending")
    reason: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str | None] = mapped_column(Text)  # what was handed over, copied then
    task_id: Mapped[int | None] = mapped_column(  # indexed above, where set
        ForeignKey("tasks.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    customer = relationship("Customer")
    sop = relationship("Sop")
    step = relationship("SopStep")
    journey = relationship("Journey")
    reminder = relationship("JourneyReminder")
    group_send = relationship("GroupSend")
    sender = relationship("Employee")
    task = relationship("Task", back_populates="deliveries")
    batch = relationship("SendBatch", back_populates="deliveries")

    def __str__(self) -> str:
        return f"#{self.id} {self.action} {self.status}"


class SendBatch(db.Model):
    """Up to `batch_size` deliveries of one step (or reminder) for one sender, sent together.

    planned -> sending (claimed; an attempt may be in flight) -> queued (the channel
    took it: an inbox task, a WeCom msgid, a 2xx) -> done (every delivery final);
    or failed. `attempt_open` says an external call was started and its answer not
    recorded: whoever picks the batch up next asks the channel before calling again.
    """

    __tablename__ = "send_batches"
    __table_args__ = (
        CheckConstraint(in_check("status", BATCH_STATUSES), name="status"),
        CheckConstraint(in_check("channel", CHANNELS), name="channel"),
        Index("ix_send_batches_status_not_before", "status", "not_before"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sop_id: Mapped[int | None] = mapped_column(
        ForeignKey("sops.id", ondelete="CASCADE"), index=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("sop_steps.id", ondelete="SET NULL"))
    variant: Mapped[str | None] = mapped_column(String(64))  # one batch, one variant's content
    journey_id: Mapped[int | None] = mapped_column(ForeignKey("journeys.id", ondelete="CASCADE"))
    reminder_id: Mapped[int | None] = mapped_column(
        ForeignKey("journey_reminders.id", ondelete="SET NULL"))
    group_send_id: Mapped[int | None] = mapped_column(
        ForeignKey("group_sends.id", ondelete="CASCADE"), index=True)
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    seq: Mapped[int] = mapped_column(Integer, default=0)  # k: not before due + k x interval
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    retry_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default="planned")
    size: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    attempt_open: Mapped[bool] = mapped_column(Boolean, default=False)
    attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    msgid: Mapped[str | None] = mapped_column(String(128))
    fail_list: Mapped[list | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(String(300))
    task_id: Mapped[int | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reconciled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    sop = relationship("Sop")
    step = relationship("SopStep")
    journey = relationship("Journey")
    reminder = relationship("JourneyReminder")
    group_send = relationship("GroupSend")
    sender = relationship("Employee")
    task = relationship("Task")
    deliveries = relationship("Delivery", back_populates="batch", order_by="Delivery.id")

    def __str__(self) -> str:
        return f"batch #{self.id} ({self.status})"


class QuotaLedger(db.Model):
    """Messages charged to one customer in one quota period (its first local day)."""

    __tablename__ = "quota_ledger"
    __table_args__ = (UniqueConstraint("customer_id", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    period_start: Mapped[date] = mapped_column(Date)
    used: Mapped[int] = mapped_column(Integer, default=0)


class BudgetDay(db.Model):
    """Messages charged to the enterprise's daily budget on one local day."""

    __tablename__ = "quota_budget_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0)
