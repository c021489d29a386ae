"""What a customer's journal rows say changed, and which rules such changes wake. Pure.

The tick folds one customer's unprocessed journal rows into `Changes`; then:
- an early-end rule fires only when a change after entry could have made it true
  (a listed tag added, the stage or churn status set to a listed value; SPEC §3);
- journeys are re-evaluated on a tag, stage or churn change (SPEC §4);
- a playbook starts on its trigger event type.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from jobs.core.conditions import Condition

# journal kind -> the event types (SPEC §8) that write it
EVENT_TYPES_OF_KIND = {
    "added": ("customer_added",), "updated": ("customer_updated",),
    "owner": ("owner_changed",), "lost": ("customer_lost",), "stage": ("stage_changed",),
    "order": ("order_placed",), "followup": ("followup_logged",),
}


@dataclass
class Changes:
    """Everything one customer's journal rows changed, in one batch."""

    kinds: set[str] = field(default_factory=set)
    event_types: set[str] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)
    tags_added: set[str] = field(default_factory=set)
    tags_removed: set[str] = field(default_factory=set)
    stage_to: set[str] = field(default_factory=set)
    churn_to: set[str] = field(default_factory=set)
    last_at: object = None  # the latest change time (aware datetime)
    event_at: dict = field(default_factory=dict)  # event type -> its latest time

    def add(self, kind: str, detail: Mapping, at) -> None:
        self.kinds.add(kind)
        self.last_at = at if self.last_at is None or at > self.last_at else self.last_at
        tags = detail.get("tags", detail) if kind in ("added", "updated", "tags") else {}
        added, removed = set(tags.get("added", ())), set(tags.get("removed", ()))
        self.tags_added |= added
        self.tags_removed |= removed
        types = [*EVENT_TYPES_OF_KIND.get(kind, ()), *(["tag_added"] if added else []),
                 *(["tag_removed"] if removed else [])]
        for event_type in types:
            self.event_types.add(event_type)
            previous = self.event_at.get(event_type)
            self.event_at[event_type] = at if previous is None or at > previous else previous
        if kind == "stage":
            self.stage_to.add(detail.get("to"))
            self.fields.add("lifecycle_stage")
        elif kind == "lost":
            self.churn_to.add(detail.get("to", "lost"))
            self.fields.add("churn_status")
        elif kind == "owner":
            self.fields.add("owner")
        elif kind in ("added", "updated"):
            for name, change in detail.items():
                if name == "tags" or not isinstance(change, Mapping):
                    continue
                self.fields.add(name)
                if name == "churn_status":
                    self.churn_to.add(change.get("to"))
                if name == "lifecycle_stage":
                    self.stage_to.add(change.get("to"))

    @property
    def touches_journeys(self) -> bool:
        """A tag, stage or churn change, or a new customer (SPEC §4)."""
        return bool(self.tags_added or self.tags_removed or self.stage_to or self.churn_to
                    or "added" in self.kinds)


def fold(rows: Iterable[tuple[int, str, Mapping, object]]) -> dict[int, Changes]:
    """(customer_id, kind, detail, at) rows -> Changes per customer."""
    out: dict[int, Changes] = {}
    for customer_id, kind, detail, at in rows:
        out.setdefault(customer_id, Changes()).add(kind, detail or {}, at)
    return out


def happened_since(changes: Changes, event_type: str, since) -> bool:
    """Whether an event of this type happened at or after `since` (a playbook's start)."""
    at = changes.event_at.get(event_type)
    return at is not None and (since is None or at >= since)


def could_make_true(condition: Condition, changes: Changes) -> bool:
    """Whether these changes touch something that could turn `condition` true.

    The condition itself is then checked on the customer as it is now; together
    this is the edge "a change after entry makes it true" of SPEC §3.
    """
    c = condition
    return any((
        c.tags_any is not None and bool(changes.tags_added & c.tags_any),
        c.tags_all is not None and bool(changes.tags_added & c.tags_all),
        c.tags_none is not None and bool(changes.tags_removed & c.tags_none),
        c.stages is not None and bool(changes.stage_to & c.stages),
        c.churn_statuses is not None and bool(changes.churn_to & c.churn_statuses),
        c.sources is not None and "source" in changes.fields,
        c.tiers is not None and "tier" in changes.fields,
        bool(c.owner_scopes) and "owner" in changes.fields,
    ))
