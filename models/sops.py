"""SOPs (客户SOP): target, batch settings, timed steps, end rules, versions."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON, Boolean, CheckConstraint, Column, Date, ForeignKey, Index, Integer, String, Table, Text,
    UniqueConstraint, text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jobs.core.vocab import (
    ENROLLMENT_STATUSES, MAX_BATCH_SIZE, SOP_KINDS, SOP_STATUSES, STEP_ACTIONS,
)
from models.base import UTCDateTime, db, in_check, utcnow
from models.content import Material
from models.org import Department, Employee


def link_table(name: str, left: str, right: str) -> Table:
    """A many-to-many table `name` between `left` and `right` (plural table names)."""
    left_col, right_col = f"{left[:-1]}_id", f"{right[:-1]}_id"
    return Table(
        name, db.metadata,
        Column(left_col, ForeignKey(f"{left}.id", ondelete="CASCADE"), primary_key=True),
        Column(right_col, ForeignKey(f"{right}.id", ondelete="CASCADE"), primary_key=True,
               index=True),
    )


sop_members = link_table("sop_members", "sops", "employees")
sop_departments = link_table("sop_departments", "sops", "departments")
step_attachments = link_table("step_attachments", "sop_steps", "materials")

# A time of day as "HH:MM"; string comparison works the same on SQLite and PostgreSQL.
HHMM_CHECK = (
    "length({c}) = 5 AND substr({c}, 3, 1) = ':' "
    "AND substr({c}, 1, 2) BETWEEN '00' AND '23' AND substr({c}, 4, 2) BETWEEN '00' AND '59'"
)


class Sop(db.Model):
    __tablename__ = "sops"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(in_check("kind", SOP_KINDS), name="kind"),
        CheckConstraint(in_check("status", SOP_STATUSES), name="status"),
        CheckConstraint(f"batch_size BETWEEN 1 AND {MAX_BATCH_SIZE}", name="batch_size"),
        CheckConstraint("batch_interval_minutes >= 0", name="batch_interval"),
        CheckConstraint("entry_window_hours >= 1", name="entry_window"),
        CheckConstraint("conversion_days >= 1", name="conversion_days"),
        CheckConstraint("holdout_percent BETWEEN 0 AND 50", name="holdout"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20), default="new_customer")
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # Target in its config-as-code shape: sources, tags_any, tags_all, tags_none,
    # segment, stages, churn_status (members and departments are the link tables).
    target: Mapped[dict] = mapped_column(JSON, default=dict)
    trigger_event: Mapped[str | None] = mapped_column(String(40))  # playbooks
    entry_window_hours: Mapped[int] = mapped_column(Integer, default=24)
    batch_size: Mapped[int] = mapped_column(Integer, default=200)
    batch_interval_minutes: Mapped[int] = mapped_column(Integer, default=10)
    conversion_days: Mapped[int] = mapped_column(Integer, default=30)
    holdout_percent: Mapped[int] = mapped_column(Integer, default=0)
    early_end_when: Mapped[dict] = mapped_column(JSON, default=dict)
    early_end_add_tags: Mapped[list] = mapped_column(JSON, default=list)
    early_end_flow_to_id: Mapped[int | None] = mapped_column(ForeignKey("sops.id"))
    normal_end_add_tags: Mapped[list] = mapped_column(JSON, default=list)
    normal_end_flow_to_id: Mapped[int | None] = mapped_column(ForeignKey("sops.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the first full evaluation (status initializing): percent done, when it finished
    init_progress: Mapped[int] = mapped_column(Integer, default=0)
    initialized_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    members: Mapped[list[Employee]] = relationship(secondary=sop_members, order_by=Employee.userid)
    departments: Mapped[list[Department]] = relationship(
        secondary=sop_departments, order_by=Department.name)
    steps: Mapped[list[SopStep]] = relationship(
        back_populates="sop", cascade="all, delete-orphan", order_by="SopStep.position")
    early_end_flow_to: Mapped[Sop | None] = relationship(
        remote_side=[id], foreign_keys=[early_end_flow_to_id])
    normal_end_flow_to: Mapped[Sop | None] = relationship(
        remote_side=[id], foreign_keys=[normal_end_flow_to_id])

    def __str__(self) -> str:
        return f"{self.name} [{self.key}]"


class SopStep(db.Model):
    """One timed step: due at local midnight of day 0 + `day` days + `at`."""

    __tablename__ = "sop_steps"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("sop_id", "position"),
        UniqueConstraint("sop_id", "key"),
        CheckConstraint("day >= 0", name="day"),
        CheckConstraint(HHMM_CHECK.format(c="at_time"), name="at_time"),
        CheckConstraint(in_check("action", STEP_ACTIONS), name="action"),
        CheckConstraint("task_deadline_hours IS NULL OR task_deadline_hours >= 1",
                        name="task_deadline"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sop_id: Mapped[int] = mapped_column(ForeignKey("sops.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str | None] = mapped_column(String(64))
    day: Mapped[int] = mapped_column(Integer, default=0)
    at_time: Mapped[str] = mapped_column(String(5), default="10:00")
    action: Mapped[str] = mapped_column(String(10), default="message")
    text: Mapped[str | None] = mapped_column(Text)
    task_title: Mapped[str | None] = mapped_column(String(200))
    # "owner", "role:<role>" or "employee:<userid>"
    task_assignee: Mapped[str | None] = mapped_column(String(80))
    task_deadline_hours: Mapped[int | None] = mapped_column(Integer)
    add_tags: Mapped[list] = mapped_column(JSON, default=list)
    remove_tags: Mapped[list] = mapped_column(JSON, default=list)
    stage: Mapped[str | None] = mapped_column(String(50))
    # when the step was added to an SOP already started: enrollments older than this
    # whose due time for it had already passed skip it (SPEC §3: not sent late)
    added_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A/B variants of a message step: [{key, text, attachments: [material key], weight}]
    variants: Mapped[list | None] = mapped_column(JSON)

    sop: Mapped[Sop] = relationship(back_populates="steps")
    attachments: Mapped[list[Material]] = relationship(
        secondary=step_attachments, order_by=Material.key)

    def __str__(self) -> str:
        return f"day {self.day} {self.at_time} {self.action}"


class SopVersion(db.Model):
    """Every saved change of an SOP: a snapshot in config-as-code shape plus a diff."""

    __tablename__ = "sop_versions"
    __table_args__ = (UniqueConstraint("sop_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sop_id: Mapped[int] = mapped_column(ForeignKey("sops.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    snapshot: Mapped[dict] = mapped_column(JSON)
    diff: Mapped[str] = mapped_column(Text, default="")

    sop: Mapped[Sop] = relationship()


class Enrollment(db.Model):
    """One customer in one SOP (at most once: unique), with the clock of its steps.

    `day0` is the local date of day 0 (the add day for new-customer SOPs, the
    enrollment day otherwise). `next_due_at` is the local due time of the first
    step not yet written as a delivery, NULL once all are written: the tick picks
    enrollments by it (indexed), so its cost follows what falls due.
    """

    __tablename__ = "enrollments"
    __table_args__ = (
        UniqueConstraint("sop_id", "customer_id"),
        CheckConstraint(in_check("status", ENROLLMENT_STATUSES), name="status"),
        # Only enrollments with a step to come: the tick's `next_due_at < horizon`
        # implies it. The waiting ones (NULL) are looked up by id (planner.wake,
        # complete_finished); indexed, a plan made on statistics from before they
        # waited took this index for `next_due_at IS NULL` and read every waiting
        # enrollment per sent batch (bench/send.py on PostgreSQL: 110 ms a batch).
        Index("ix_enrollments_due", "status", "next_due_at",
              sqlite_where=text("next_due_at IS NOT NULL"),
              postgresql_where=text("next_due_at IS NOT NULL")),
        # Lead with what the tick filters on by equality, so SQLite (which has no
        # statistics) cannot prefer the low-selectivity (status) or (sop, status) prefix:
        # a changed customer's active enrollments; one SOP's active ones among given ids.
        Index("ix_enrollments_customer_status", "customer_id", "status"),
        Index("ix_enrollments_sop_status", "sop_id", "status", "customer_id", "holdout"),
        # the SOP customer list (newest first, all or one SOP) and the data page's weeks;
        # holdout (and customer_id) let the data page's totals and conversion read the
        # index alone
        Index("ix_enrollments_enrolled", "enrolled_at"),
        Index("ix_enrollments_sop_enrolled", "sop_id", "enrolled_at", "holdout", "customer_id"),
        # the data page's conversion counts these live; the decided ones are counters
        Index("ix_enrollments_undecided", "sop_id", "enrolled_at",
              sqlite_where=text("converted IS NULL"), postgresql_where=text("converted IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sop_id: Mapped[int] = mapped_column(ForeignKey("sops.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="active")
    round: Mapped[int] = mapped_column(Integer, default=1)  # bumped when ops re-add by hand
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    day0: Mapped[date] = mapped_column(Date)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    holdout: Mapped[bool] = mapped_column(Boolean, default=False)
    flowed_from_id: Mapped[int | None] = mapped_column(ForeignKey("sops.id", ondelete="SET NULL"))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # why it ended, and what became of its flow ("entered", "skipped: ...")
    end_reason: Mapped[str | None] = mapped_column(String(200))
    flow_result: Mapped[str | None] = mapped_column(String(200))
    # an order within the SOP's conversion_days of enrolled_at? Decided by the tick once
    # that window has closed (jobs/counters.py), NULL until then
    converted: Mapped[bool | None] = mapped_column(Boolean)

    sop: Mapped[Sop] = relationship(foreign_keys=[sop_id])
    flowed_from: Mapped[Sop | None] = relationship(foreign_keys=[flowed_from_id])
    customer = relationship("Customer")

    def __str__(self) -> str:
        return f"{self.sop.key if self.sop else self.sop_id} · customer {self.customer_id}"
