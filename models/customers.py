"""Customers, tags, segments and orders (SPEC §2)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON, CheckConstraint, ForeignKey, Index, Numeric, String, Text, text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jobs.core.vocab import (
    CHURN_STATUSES, CUSTOMER_TYPES, FOLLOWUP_OUTCOMES, REVIEW_STATUSES, TAG_SOURCES, TIERS,
)
from models.base import UTCDateTime, db, in_check, utcnow
from models.org import Employee

# no follow-up planned yet (jobs.followups.backfill); its literal matches the index's
UNPLANNED = ("next_followup_at IS NULL AND followup_task_id IS NULL "
             "AND churn_status <> 'lost'")


class Tag(db.Model):
    """A named tag; its name is its key in config as code."""

    __tablename__ = "tags"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    group_name: Mapped[str | None] = mapped_column(String(100))
    # the corp tag's id in WeCom (get_corp_tag_list / change_external_tag / add_corp_tag)
    wecom_id: Mapped[str | None] = mapped_column(String(64), unique=True)

    def __str__(self) -> str:
        return self.name


class Customer(db.Model):
    __tablename__ = "customers"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(in_check("customer_type", CUSTOMER_TYPES), name="customer_type"),
        CheckConstraint(in_check("churn_status", CHURN_STATUSES), name="churn_status"),
        CheckConstraint(in_check("tier", TIERS), name="tier"),
        CheckConstraint(in_check("review_status", REVIEW_STATUSES), name="review_status"),
        CheckConstraint("annual_value >= 0", name="annual_value"),
        Index("ix_customers_owner_added", "owner_id", "added_at"),
        CheckConstraint(f"followup_outcome IS NULL OR {in_check('followup_outcome', FOLLOWUP_OUTCOMES)}",
                        name="followup_outcome"),
        # the follow-up rule's scan: due soon and no open follow-up task yet
        Index("ix_customers_followup_due", "followup_task_id", "next_followup_at"),
        # the follow-up backfill's scan, every tick: customers with no plan yet (a few
        # after an import, usually none); without it `ORDER BY id LIMIT` read them all
        Index("ix_customers_unplanned", "id", sqlite_where=text(UNPLANNED),
              postgresql_where=text(UNPLANNED)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)  # a sortable list column
    customer_type: Mapped[str] = mapped_column(String(20), default="individual")
    industry: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(300))
    source: Mapped[str | None] = mapped_column(String(100), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id"), index=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    lifecycle_stage: Mapped[str | None] = mapped_column(String(50), index=True)
    churn_status: Mapped[str] = mapped_column(String(20), default="normal", index=True)
    annual_value: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=0)
    tier: Mapped[str] = mapped_column(String(20), default="normal", index=True)
    review_status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    review_reason: Mapped[str | None] = mapped_column(Text)
    last_interaction_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_purchase_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # follow-ups (SPEC §6): kept by jobs/followups.py
    last_followup_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_followup_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    followup_promised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # on a record
    followup_task_id: Mapped[int | None] = mapped_column()  # the open follow-up task
    followup_outcome: Mapped[str | None] = mapped_column(String(20))
    lost_reason: Mapped[str | None] = mapped_column(Text)
    churn_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dormant_since: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    owner: Mapped[Employee | None] = relationship()
    tag_links: Mapped[list[CustomerTag]] = relationship(
        back_populates="customer", cascade="all, delete-orphan")
    tags: Mapped[list[Tag]] = relationship(
        secondary="customer_tags", viewonly=True, order_by="Tag.name")
    orders: Mapped[list[Order]] = relationship(back_populates="customer")

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"


class CustomerTag(db.Model):
    """A tag a customer has now, with when and from where it came."""

    __tablename__ = "customer_tags"
    __table_args__ = (CheckConstraint(in_check("source", TAG_SOURCES), name="source"),)

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(
        ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(20), default="manual")

    customer: Mapped[Customer] = relationship(back_populates="tag_links")
    tag: Mapped[Tag] = relationship()


class TagChange(db.Model):
    """History of every tag added to or removed from a customer."""

    __tablename__ = "tag_changes"
    __table_args__ = (
        CheckConstraint(in_check("source", TAG_SOURCES), name="source"),
        CheckConstraint(in_check("action", ("added", "removed")), name="action"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tag: Mapped[Tag] = relationship()


class Segment(db.Model):
    """人群包: a saved filter over customers, kept in its config-as-code shape."""

    __tablename__ = "segments"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    # {sources, tags_any, tags_all, tags_none, stages, churn_status, tiers,
    #  owners, departments, added_from, added_to}
    filter: Mapped[dict] = mapped_column(JSON, default=dict)

    def __str__(self) -> str:
        return self.name


class Order(db.Model):
    __tablename__ = "orders"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount"),
        Index("ix_orders_customer_placed", "customer_id", "placed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    customer: Mapped[Customer] = relationship(back_populates="orders")

    def __str__(self) -> str:
        return self.order_id
