"""Follow-up cadence (SPEC §6): how long until a customer's next follow-up. Pure.

The interval follows the tier (high weekly, potential every two weeks, normal
monthly); a customer whose last follow-up said "to nurture" waits the longer
nurture interval whatever the tier; a lost customer is not followed up (until a
re-add brings them back). The next
follow-up is the date the employee gave on their record, else the last follow-up
(or, before any, the day the customer was added) plus the interval.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Intervals:
    """Days between follow-ups per tier, and for customers put to nurture."""

    high: int = 7
    potential: int = 14
    normal: int = 30
    nurture: int = 60

    def days(self, tier: str, outcome: str | None) -> int:
        if outcome == "nurture":
            return self.nurture
        return {"high": self.high, "potential": self.potential}.get(tier, self.normal)


@dataclass(frozen=True)
class FollowState:
    tier: str
    churn_status: str
    added_at: datetime
    last_followup_at: datetime | None = None
    outcome: str | None = None  # of the last follow-up
    promised_at: datetime | None = None  # the "next follow-up date" the employee gave


def next_followup(state: FollowState, intervals: Intervals) -> datetime | None:
    """When the next follow-up is due; None for a lost customer."""
    if state.churn_status == "lost":  # a "lost" outcome set it; a re-add clears it
        return None
    if state.promised_at is not None:
        return state.promised_at
    base = state.last_followup_at or state.added_at
    return base + timedelta(days=intervals.days(state.tier, state.outcome))


def visible_from(due: datetime, lead_days: int = 1) -> datetime:
    """A follow-up task shows in the inbox this long before it is due."""
    return due - timedelta(days=lead_days)
