"""Follow-up records (跟进记录, SPEC §6) and the bookkeeping of the periodic CRM rules."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jobs.core.vocab import FOLLOWUP_METHODS, FOLLOWUP_OUTCOMES
from models.base import UTCDateTime, db, in_check, utcnow


class FollowUp(db.Model):
    """One contact an employee had with a customer, and what came of it."""

    __tablename__ = "followups"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(in_check("method", FOLLOWUP_METHODS), name="method"),
        CheckConstraint(in_check("outcome", FOLLOWUP_OUTCOMES), name="outcome"),
        CheckConstraint("outcome <> 'lost' OR lost_reason IS NOT NULL", name="lost_reason"),
        Index("ix_followups_customer_at", "customer_id", "at"),
        Index("ix_followups_employee_at", "employee_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    employee_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    method: Mapped[str] = mapped_column(String(20))
    key_points: Mapped[str] = mapped_column(Text)
    feedback: Mapped[str | None] = mapped_column(Text)
    next_action: Mapped[str | None] = mapped_column(Text)
    next_date: Mapped[date | None] = mapped_column(Date)
    collab_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    outcome: Mapped[str] = mapped_column(String(20), default="none")
    lost_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    customer = relationship("Customer")
    employee = relationship("Employee")
    collab_department = relationship("Department")

    def __str__(self) -> str:
        return f"#{self.id} {self.method} {self.at:%Y-%m-%d}"


class RuleRun(db.Model):
    """When a periodic rule last looked: the next run only examines what crossed its
    threshold since (cost follows what changed, not the number of customers)."""

    __tablename__ = "rule_runs"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime)
