"""What every engine service needs for one pass: the session, `now`, the local calendar,
and the SOP/journey conditions parsed once."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cached_property
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.core.conditions import Condition, parse_condition
from jobs.core.due import end_of_local_day, local_date
from models import Segment, Settings, Sop

# Customers who deleted their employee cannot be messaged: no SOP takes them in
# unless its target asks for a churn status explicitly.
REACHABLE = frozenset({"normal", "dormant"})


@dataclass
class Context:
    session: Session
    now: datetime  # aware
    _conditions: dict = field(default_factory=dict)
    # enrollments whose last step this pass wrote, for complete_finished
    finished: list[int] = field(default_factory=list)

    @cached_property
    def settings(self) -> Settings:
        return Settings.get(self.session)

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    @property
    def today(self) -> date:
        return local_date(self.now, self.tz)

    @property
    def horizon(self) -> datetime:
        """End of the local day: steps due before it are written now."""
        return end_of_local_day(self.now, self.tz)

    @cached_property
    def segments(self) -> dict[str, dict]:
        return {s.key: s.filter or {} for s in self.session.scalars(select(Segment))}

    def condition(self, raw: dict | None) -> Condition:
        return parse_condition(raw, tz=self.tz, segments=self.segments)

    def entry_condition(self, sop: Sop) -> Condition:
        """The SOP's target with its members and departments (the owner scope)."""
        key = ("entry", sop.id)
        if key not in self._conditions:
            raw = dict(sop.target or {})
            raw["members"] = [m.userid for m in sop.members]
            raw["departments"] = [d.name for d in sop.departments]
            condition = self.condition(raw)
            if condition.churn_statuses is None:
                condition = replace(condition, churn_statuses=REACHABLE)
            self._conditions[key] = condition
        return self._conditions[key]

    def early_end_condition(self, sop: Sop) -> Condition | None:
        """None when the SOP has no early-end rule (an empty `when` never fires)."""
        if not any(sop.early_end_when.values() if sop.early_end_when else ()):
            return None
        key = ("early", sop.id)
        if key not in self._conditions:
            self._conditions[key] = self.condition(sop.early_end_when)
        return self._conditions[key]
