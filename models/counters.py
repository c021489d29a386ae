"""Counters the data pages read instead of recounting millions of rows per request
(issue 13): kept by database triggers in the same transaction as the change that
moves them (models/counter_triggers.py), repaired by `flask sop stats rebuild`.

Every table is a key -> n, the key's columns NOT NULL (0 or '' for "none", so the
upsert's conflict target works on both databases) plus `shard`: on PostgreSQL the
writing backend's pid % 8, so two send workers increment different rows instead of
waiting on one; readers sum over shards. Times are UTC hour numbers (epoch seconds //
3600), so a page buckets them into local days for any whole-hour time zone.

Extending a key (group sends, A/B variants): add the column to the table's key here,
its expression to the feed in models/counter_triggers.py, a migration; readers that
do not know the column simply sum over it.
"""
from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import db


def key(type_=Integer, **kw):
    return mapped_column(type_, primary_key=True, autoincrement=False, **kw)


class DeliveryCount(db.Model):
    """Deliveries per SOP (or journey) x step position x action x status x sender: the
    funnel, the journey's reminders by employee, the dashboard's deferred and held."""

    __tablename__ = "delivery_counts"

    sop_id: Mapped[int] = key()
    journey_id: Mapped[int] = key()
    position: Mapped[int] = key()
    action: Mapped[str] = key(String(10))
    status: Mapped[str] = key(String(10))
    holdout: Mapped[int] = key()  # 1: skipped because the customer is in the holdout
    held: Mapped[int] = key()  # 1: held_since set (no active owner)
    sender_id: Mapped[int] = key()
    shard: Mapped[int] = key()
    n: Mapped[int] = mapped_column(Integer, default=0)


class DeliveryHour(db.Model):
    """Deliveries per UTC hour of one of their times (`measure`): due (by status: the
    quota calendar's plan, the failed card), queued and sent (per SOP: the sends
    charts, handed today), first_due (deferrals by their first planned day)."""

    __tablename__ = "delivery_hours"

    measure: Mapped[str] = key(String(10))
    hour: Mapped[int] = key()
    sop_id: Mapped[int] = key()
    action: Mapped[str] = key(String(10))
    status: Mapped[str] = key(String(10))  # '' for the measures not split by status
    holdout: Mapped[int] = key()
    shard: Mapped[int] = key()
    n: Mapped[int] = mapped_column(Integer, default=0)


class CustomerHour(db.Model):
    """Customers per UTC hour of `added_at`: the home page's totals and added chart."""

    __tablename__ = "customer_hours"

    hour: Mapped[int] = key()
    shard: Mapped[int] = key()
    n: Mapped[int] = mapped_column(Integer, default=0)


class PlacementHour(db.Model):
    """Journey placements per stage x UTC hour they were entered and left: customers
    in a stage at any time = entered before it - left before it."""

    __tablename__ = "placement_hours"

    journey_id: Mapped[int] = key()
    stage_id: Mapped[int] = key()
    measure: Mapped[str] = key(String(10))  # entered | left
    hour: Mapped[int] = key()
    shard: Mapped[int] = key()
    n: Mapped[int] = mapped_column(Integer, default=0)


class PlacementMove(db.Model):
    """Stage-to-stage moves per journey x UTC hour: from_stage 0 = entered the journey
    (hour entered), to_stage 0 = left it (hour left, no later placement)."""

    __tablename__ = "placement_moves"

    journey_id: Mapped[int] = key()
    from_stage: Mapped[int] = key()
    to_stage: Mapped[int] = key()
    hour: Mapped[int] = key()
    shard: Mapped[int] = key()
    n: Mapped[int] = mapped_column(Integer, default=0)


class ConversionCount(db.Model):
    """Enrollments whose conversion window has closed (`enrollments.converted` decided),
    per SOP x UTC hour entered x holdout x converted."""

    __tablename__ = "conversion_counts"

    sop_id: Mapped[int] = key()
    hour: Mapped[int] = key()
    holdout: Mapped[int] = key()
    converted: Mapped[int] = key()
    shard: Mapped[int] = key()
    n: Mapped[int] = mapped_column(Integer, default=0)


COUNTER_MODELS = (DeliveryCount, DeliveryHour, CustomerHour, PlacementHour, PlacementMove,
                  ConversionCount)
