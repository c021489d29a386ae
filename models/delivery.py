"""Deliveries: one per (enrollment, step) or (stage placement, reminder), the ledger of sends.

A delivery is written when its local day comes (the tick), as `pending`; the
unique constraints make writing it twice impossible. Its text is copied only when
it is handed to the sender, so edits to a running SOP reach steps not yet sent.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jobs.core.vocab import DELIVERY_ACTIONS, DELIVERY_STATUSES
from models.base import UTCDateTime, db, in_check, utcnow


class Delivery(db.Model):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "step_id", "round"),
        UniqueConstraint("placement_id", "reminder_id"),
        CheckConstraint(in_check("status", DELIVERY_STATUSES), name="status"),
        CheckConstraint(in_check("action", DELIVERY_ACTIONS), name="action"),
        CheckConstraint("(enrollment_id IS NULL) <> (placement_id IS NULL)", name="origin"),
        Index("ix_deliveries_status_due", "status", "due_at"),
        Index("ix_deliveries_sop_status", "sop_id", "status"),
        Index("ix_deliveries_enrollment_status", "enrollment_id", "status"),
        Index("ix_deliveries_placement_status", "placement_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)
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
    # 0-based, in the SOP's steps or the stage's reminders
    position: Mapped[int] = mapped_column(Integer)
    step_key: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(10))
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id"), index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    reason: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str | None] = mapped_column(Text)  # what was handed over, copied then
    task_id: Mapped[int | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    customer = relationship("Customer")
    sop = relationship("Sop")
    step = relationship("SopStep")
    journey = relationship("Journey")
    reminder = relationship("JourneyReminder")
    sender = relationship("Employee")
    task = relationship("Task", back_populates="deliveries")

    def __str__(self) -> str:
        return f"#{self.id} {self.action} {self.status}"
