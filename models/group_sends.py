"""Manual group sends (客户群发, SPEC §10): a one-off message to the customers matching a
target, planned, batched and sent like an SOP step.

Its deliveries are written when it is created (one per matched customer, unique per
group send and customer) and wait as `pending` until `at`; from then on the same
quota planner, batches and sender take them. The preview counts taken at creation
are kept, so a repeated POST with the same key answers exactly as the first one.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import UTCDateTime, db, in_check, utcnow
from models.content import Material
from models.sops import link_table

group_send_attachments = link_table("group_send_attachments", "group_sends", "materials")
GROUP_SEND_STATUSES = ("active", "cancelled")  # cancelled: what was not sent yet never will be


class GroupSend(db.Model):
    __tablename__ = "group_sends"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("batch_size > 0", name="batch_size"),
        CheckConstraint("batch_interval_minutes >= 0", name="batch_interval"),
        CheckConstraint(in_check("status", GROUP_SEND_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    text: Mapped[str] = mapped_column(Text)
    # the same keys as an SOP target, members and departments included (names)
    target: Mapped[dict] = mapped_column(JSON, default=dict)
    # employee userids whose customers get it (each from its own owner); empty: every owner
    senders: Mapped[list] = mapped_column(JSON, default=list)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    batch_size: Mapped[int] = mapped_column(Integer, default=200)
    batch_interval_minutes: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default="active")
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the preview as it stood at creation (SPEC §10's answer to the POST)
    matched: Mapped[int] = mapped_column(Integer, default=0)
    today: Mapped[int] = mapped_column(Integer, default=0)
    deferred: Mapped[int] = mapped_column(Integer, default=0)
    no_owner: Mapped[int] = mapped_column(Integer, default=0)
    deferred_to: Mapped[list] = mapped_column(JSON, default=list)  # [{"date", "customers"}]

    attachments: Mapped[list[Material]] = relationship(
        secondary=group_send_attachments, order_by=Material.key)

    @property
    def title(self) -> str:
        """How a batch's inbox task and the lists name it: the start of its text."""
        first = (self.text or "").strip().splitlines()[0] if (self.text or "").strip() else ""
        return first[:40] + ("…" if len(first) > 40 else "")

    def __str__(self) -> str:
        return f"{self.key} · {self.title}"
