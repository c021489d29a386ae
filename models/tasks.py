"""Inbox tasks: what an employee (or anyone with a role) has to do, with a deadline."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jobs.core.vocab import ROLES, TASK_KINDS, TASK_RULES, TASK_STATUSES
from models.base import UTCDateTime, db, in_check, utcnow


class Task(db.Model):
    """A send task (a batch of messages), a reminder, a playbook step, a follow-up ...

    Assigned to an employee, or to a role when a playbook step names one (`role`).
    """

    __tablename__ = "tasks"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(in_check("kind", TASK_KINDS), name="kind"),
        CheckConstraint(in_check("status", TASK_STATUSES), name="status"),
        CheckConstraint(f"role IS NULL OR {in_check('role', ROLES)}", name="role"),
        Index("ix_tasks_employee_status_due", "employee_id", "status", "due_at"),
        Index("ix_tasks_role_status_due", "role", "status", "due_at"),
        CheckConstraint(f"rule IS NULL OR {in_check('rule', TASK_RULES)}", name="rule"),
        # one open task per rule and customer (a follow-up, a churn warning, a review)
        Index("uq_tasks_open_rule", "customer_id", "rule", unique=True,
              sqlite_where=text("status = 'open' AND rule IS NOT NULL"),
              postgresql_where=text("status = 'open' AND rule IS NOT NULL")),
        Index("ix_tasks_status_escalated_due", "status", "escalated_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="open")
    employee_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id"))
    role: Mapped[str | None] = mapped_column(String(20))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    sop_id: Mapped[int | None] = mapped_column(
        ForeignKey("sops.id", ondelete="SET NULL"), index=True)
    journey_id: Mapped[int | None] = mapped_column(ForeignKey("journeys.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str | None] = mapped_column(String(20))  # the CRM rule that made it
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # overdue: manager told

    employee = relationship("Employee")
    customer = relationship("Customer")
    sop = relationship("Sop")
    journey = relationship("Journey")
    deliveries = relationship("Delivery", back_populates="task", order_by="Delivery.id")

    def __str__(self) -> str:
        return f"#{self.id} {self.title}"
