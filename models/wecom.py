"""What WeCom told us (the callback journal) and what we owe WeCom (tag write-backs).

`WeComCallback` is one row per accepted callback (SPEC §9): `event_key` is derived
from the callback's content, so a WeCom retry (same change, re-signed) finds the row
and only bumps `repeats`. Refused requests (bad signature, stale, undecryptable)
write nothing; they are logged.

`WeComTagWrite` is the outbox of auto-tags to write back with `mark_tag` (channel
`wecom`): the tick writes rows, a job sends them; at most one pending row per
(customer, tag, action).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import UTCDateTime, db, in_check, utcnow
from models.customers import Customer, Tag

CALLBACK_STATUSES = ("accepted", "ignored")
TAG_WRITE_ACTIONS = ("add", "remove")
TAG_WRITE_STATUSES = ("pending", "done", "failed")


class WeComCallback(db.Model):
    __tablename__ = "wecom_callbacks"
    __table_args__ = (
        CheckConstraint(in_check("status", CALLBACK_STATUSES), name="status"),
        Index("ix_wecom_callbacks_signature_nonce", "msg_signature", "nonce"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    event_key: Mapped[str] = mapped_column(String(100), unique=True)
    msg_signature: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(64))
    timestamp: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(40))
    change_type: Mapped[str | None] = mapped_column(String(40), index=True)
    external_userid: Mapped[str | None] = mapped_column(String(64), index=True)
    userid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)  # WeCom's CreateTime
    xml: Mapped[str] = mapped_column(Text)  # the decrypted message
    status: Mapped[str] = mapped_column(String(10), default="accepted")
    reason: Mapped[str | None] = mapped_column(String(300))
    welcome: Mapped[str | None] = mapped_column(String(300))  # sent / why not
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # details fetched
    repeats: Mapped[int] = mapped_column(Integer, default=0)  # duplicates recognised

    def __str__(self) -> str:
        return f"#{self.id} {self.change_type or self.event}"


class WeComTagWrite(db.Model):
    __tablename__ = "wecom_tag_writes"
    __table_args__ = (
        CheckConstraint(in_check("action", TAG_WRITE_ACTIONS), name="action"),
        CheckConstraint(in_check("status", TAG_WRITE_STATUSES), name="status"),
        Index("uq_wecom_tag_writes_pending", "customer_id", "tag_id", "action", unique=True,
              sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
        Index("ix_wecom_tag_writes_due", "status", "next_try_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_try_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    customer: Mapped[Customer] = relationship()
    tag: Mapped[Tag] = relationship()

    def __str__(self) -> str:
        return f"#{self.id} {self.action} tag {self.tag_id} on customer {self.customer_id}"
