"""Customer journeys (客户旅程SOP): stages, rules (OR) of conditions (AND), reminders."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text,
    UniqueConstraint, false, text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jobs.core.vocab import CHURN_STATUSES, CONDITION_KINDS, REMINDER_KINDS
from models.base import UTCDateTime, db, in_check, utcnow
from models.content import Material
from models.sops import link_table

reminder_attachments = link_table("reminder_attachments", "journey_reminders", "materials")


class Journey(db.Model):
    __tablename__ = "journeys"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    automation: Mapped[bool] = mapped_column(Boolean, default=True)
    stage_reminders: Mapped[bool] = mapped_column(Boolean, default=True)
    followup_reminders: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set while "sync data" runs; the journey cannot be edited meanwhile.
    sync_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sync_progress: Mapped[int] = mapped_column(Integer, default=0)  # percent of the last sync
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    stages: Mapped[list[JourneyStage]] = relationship(
        back_populates="journey", cascade="all, delete-orphan", order_by="JourneyStage.position")

    def __str__(self) -> str:
        return f"{self.name} [{self.key}]"


class JourneyStage(db.Model):
    __tablename__ = "journey_stages"
    __audited__ = True
    __table_args__ = (UniqueConstraint("journey_id", "key"),
                      UniqueConstraint("journey_id", "position"))

    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(
        ForeignKey("journeys.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)

    journey: Mapped[Journey] = relationship(back_populates="stages")
    rules: Mapped[list[JourneyRule]] = relationship(
        back_populates="stage", cascade="all, delete-orphan", order_by="JourneyRule.position")
    reminders: Mapped[list[JourneyReminder]] = relationship(
        back_populates="stage", cascade="all, delete-orphan",
        order_by="JourneyReminder.position")

    def __str__(self) -> str:
        return f"{self.journey.key if self.journey else '?'}/{self.key} {self.name}"


class JourneyRule(db.Model):
    """One rule of a stage; rules are OR-ed, their conditions AND-ed."""

    __tablename__ = "journey_rules"
    __audited__ = True
    __table_args__ = (UniqueConstraint("stage_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_id: Mapped[int] = mapped_column(
        ForeignKey("journey_stages.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)

    stage: Mapped[JourneyStage] = relationship(back_populates="rules")
    conditions: Mapped[list[JourneyCondition]] = relationship(
        back_populates="rule", cascade="all, delete-orphan",
        order_by="JourneyCondition.position")

    def __str__(self) -> str:
        return f"rule {self.position + 1}"


class JourneyCondition(db.Model):
    """tags_any (a box of tag names, OR), a lifecycle stage, or a churn status."""

    __tablename__ = "journey_conditions"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("rule_id", "position"),
        CheckConstraint(in_check("kind", CONDITION_KINDS), name="kind"),
        CheckConstraint(f"kind <> 'churn_status' OR {in_check('value', CHURN_STATUSES)}",
                        name="churn_value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(
        ForeignKey("journey_rules.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    tags: Mapped[list] = mapped_column(JSON, default=list)
    value: Mapped[str | None] = mapped_column(String(50))

    rule: Mapped[JourneyRule] = relationship(back_populates="conditions")

    def __str__(self) -> str:
        return f"{self.kind}: {', '.join(self.tags or []) or self.value}"


class JourneyReminder(db.Model):
    """Day N after entering the stage at hour H: text + attachments for the owner."""

    __tablename__ = "journey_reminders"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("stage_id", "position"),
        CheckConstraint("day >= 0", name="day"),
        CheckConstraint("hour BETWEEN 0 AND 23", name="hour"),
        CheckConstraint(in_check("kind", REMINDER_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_id: Mapped[int] = mapped_column(
        ForeignKey("journey_stages.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    day: Mapped[int] = mapped_column(Integer, default=1)
    hour: Mapped[int] = mapped_column(Integer, default=9)
    kind: Mapped[str] = mapped_column(String(10), default="stage")
    text: Mapped[str] = mapped_column(Text)

    stage: Mapped[JourneyStage] = relationship(back_populates="reminders")
    attachments: Mapped[list[Material]] = relationship(
        secondary=reminder_attachments, order_by=Material.key)

    def __str__(self) -> str:
        return f"day {self.day} {self.hour:02d}:00 {self.text[:40] if self.text else ''}"


class JourneyPlacement(db.Model):
    """A customer's stay in one stage of a journey; the open one has `left_at` NULL.

    A customer is in at most one stage per journey: a partial unique index over the
    open placements. Closed placements stay as history (stage-to-stage moves).
    `next_due_at` works as on enrollments, for the stage's reminders.
    """

    __tablename__ = "journey_placements"
    __table_args__ = (
        Index("uq_journey_placements_open", "journey_id", "customer_id", unique=True,
              sqlite_where=text("left_at IS NULL"), postgresql_where=text("left_at IS NULL")),
        Index("ix_journey_placements_due", "left_at", "next_due_at"),  # open ones by due time
        Index("ix_journey_placements_stage", "stage_id", "left_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id", ondelete="CASCADE"))
    stage_id: Mapped[int] = mapped_column(ForeignKey("journey_stages.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    day0: Mapped[date] = mapped_column(Date)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    manual: Mapped[bool] = mapped_column(Boolean, default=False)
    # written by the counters' trigger (models/counter_triggers.py), not by the engine:
    # the stage of the customer's previous placement in the journey, and whether a later
    # placement follows this one (else leaving it left the journey): the moves
    came_from_stage_id: Mapped[int | None] = mapped_column(Integer)
    moved_on: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    journey: Mapped[Journey] = relationship()
    stage: Mapped[JourneyStage] = relationship()
    customer = relationship("Customer")

    def __str__(self) -> str:
        return f"{self.stage} · customer {self.customer_id}"
