"""The change journal the evaluator reads, and the ids of events already applied.

Every change to a customer (an API event, an admin edit, an import) writes one
ChangeJournal row; the tick reads the rows not yet processed, in `id` order, and
re-evaluates only those customers (DESIGN "How data flows"). The "watermark" is
`processed_at` rather than a highest id: on PostgreSQL a smaller id can commit
after a larger one, and an id watermark would skip it for ever. A partial index
keeps the unprocessed rows cheap to find however long the journal grows.

`detail` says what changed, by kind:
  added / updated  {field: {"from": old, "to": new}, ..., "tags": {"added": [...]}}
                   (fields: name, source, owner (userid), customer_type, phone,
                   industry, annual_value (decimal string), tier, churn_status)
  owner            {"from": userid | null, "to": userid}
  lost             {"from": "normal", "to": "lost"}
  tags             {"added": [names], "removed": [names]}
  stage            {"from": stage | null, "to": stage}
  order            {"order_id": ..., "amount": decimal string}
The event path also uses these shapes to tell which fields a newer change has
already set, so a replayed older event does not undo it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import UTCDateTime, db, utcnow

# Not CHECK constraints on purpose: later writers (rules, SOP steps) add kinds
# and sources without a migration.
JOURNAL_KINDS = ("added", "updated", "owner", "lost", "tags", "stage", "order")
JOURNAL_SOURCES = ("event", "admin", "import", "rule", "sop")


class ChangeJournal(db.Model):
    """One change to one customer, read by the tick once (in `id` order)."""

    __tablename__ = "change_journal"
    __table_args__ = (
        Index("ix_change_journal_unprocessed", "id", sqlite_where=text("processed_at IS NULL"),
              postgresql_where=text("processed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # when it happened
    source: Mapped[str] = mapped_column(String(20))
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # by the tick

    def __str__(self) -> str:
        return f"#{self.id} {self.kind} customer {self.customer_id}"


class ProcessedEvent(db.Model):
    """An event `id` already applied: the primary key makes a repeat a duplicate."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __str__(self) -> str:
        return self.event_id
