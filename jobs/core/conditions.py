"""Customer conditions: one definition, parsed from the config-as-code shapes.

A condition is compiled two ways: `matches()` here (one customer, previews) and
`jobs.conditions_sql` (sets of customers, in SQL). Both read the same parsed
`Condition`, so there is one meaning of every key; the tests keep them agreeing.

Shapes (SPEC §3, §4, §8):
- an SOP target, an early-end `when` and a segment filter are condition sets: every
  given key must hold (AND); an empty one matches everyone;
- a journey stage's `rules` are OR'ed; a rule is one condition or `{all: [...]}`
  (AND); an empty rules list matches no one (the stage is only reached by hand).

Pure: standard library only. A `segment: KEY` is resolved by the caller, who passes
the segments' filters in, so nothing here reads the database.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from jobs.core.checker import as_list
from jobs.core.rules_journey import rule_conditions

# Every key of a target, an early-end `when` and a segment filter (their union).
CONDITION_KEYS = ("sources", "tags_any", "tags_all", "tags_none", "stages", "churn_status",
                  "tiers", "owners", "members", "departments", "added_from", "added_to",
                  "segment")
JOURNEY_CONDITION_KEYS = ("tags_any", "stage", "churn_status")


class ConditionError(ValueError):
    """A condition that cannot be parsed; the message names the key."""


@dataclass(frozen=True)
class CustomerSnapshot:
    """What a condition can look at, for one customer."""

    source: str | None
    lifecycle_stage: str | None
    churn_status: str
    tier: str
    owner_userid: str | None
    owner_department: str | None
    added_at: datetime  # aware
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class OwnerScope:
    """The owner's userid is in `userids` OR the owner's department is in `departments`."""

    userids: frozenset[str] = frozenset()
    departments: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Condition:
    """A condition set; None means "not restricted by this key".

    `owner_scopes` are AND'ed with each other: an SOP's members + departments make one
    scope (either matches); a segment's `owners` is its own scope, so a segment with
    owners and departments needs both. `added_since` is inclusive, `added_before`
    exclusive: local midnights already converted to instants at parse time.
    """

    sources: frozenset[str] | None = None
    tags_any: frozenset[str] | None = None
    tags_all: frozenset[str] | None = None
    tags_none: frozenset[str] | None = None
    stages: frozenset[str] | None = None
    churn_statuses: frozenset[str] | None = None
    tiers: frozenset[str] | None = None
    owner_scopes: tuple[OwnerScope, ...] = ()
    added_since: datetime | None = None
    added_before: datetime | None = None
    segment: Condition | None = None


@dataclass(frozen=True)
class Rule:
    """One journey rule: all of its conditions must hold."""

    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Stage:
    """A journey stage: its key and its rules (OR)."""

    key: str
    rules: tuple[Rule, ...] = ()


# --- parsing ------------------------------------------------------------------
def _names(raw, key: str) -> frozenset[str] | None:
    """A list of names (a scalar counts as a one-item list); empty means not given."""
    values = as_list(raw)
    for value in values:
        if not isinstance(value, str) or not value:
            raise ConditionError(f"{key}: {value!r} is not a name")
    return frozenset(values) or None


def _date(raw, key: str) -> date | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, datetime):
        raise ConditionError(f"{key}: expected a date, not a date and time")
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(raw)
    except (TypeError, ValueError):
        raise ConditionError(f"{key}: {raw!r} is not an ISO date (YYYY-MM-DD)") from None


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def parse_condition(raw: Mapping | None, *, tz: tzinfo | None = None,
                    segments: Mapping[str, Mapping] | None = None) -> Condition:
    """A target, early-end `when` or segment filter as a `Condition`.

    `tz` (a zoneinfo.ZoneInfo) is needed only for `added_from`/`added_to`, which
    compare the customer's local date of adding. `segments` maps segment keys to
    their filters, needed only when `raw` has `segment`.
    """
    raw = dict(raw or {})
    unknown = sorted(str(k) for k in raw if k not in CONDITION_KEYS)
    if unknown:
        raise ConditionError(f"unknown condition key(s): {', '.join(unknown)}")
    scopes = []
    team = OwnerScope(userids=_names(raw.get("members"), "members") or frozenset(),
                      departments=_names(raw.get("departments"), "departments") or frozenset())
    if team != OwnerScope():
        scopes.append(team)
    owners = _names(raw.get("owners"), "owners")
    if owners:
        scopes.append(OwnerScope(userids=owners))
    since, before = _added_bounds(raw, tz)
    return Condition(
        sources=_names(raw.get("sources"), "sources"),
        tags_any=_names(raw.get("tags_any"), "tags_any"),
        tags_all=_names(raw.get("tags_all"), "tags_all"),
        tags_none=_names(raw.get("tags_none"), "tags_none"),
        stages=_names(raw.get("stages"), "stages"),
        churn_statuses=_names(raw.get("churn_status"), "churn_status"),
        tiers=_names(raw.get("tiers"), "tiers"),
        owner_scopes=tuple(scopes),
        added_since=since,
        added_before=before,
        segment=_segment(raw.get("segment"), tz, segments),
    )


def _added_bounds(raw: Mapping, tz: tzinfo | None) -> tuple[datetime | None, datetime | None]:
    first = _date(raw.get("added_from"), "added_from")
    last = _date(raw.get("added_to"), "added_to")
    if (first or last) and tz is None:
        raise ConditionError("added_from/added_to need a time zone")
    since = _local_midnight(first, tz) if first else None
    before = _local_midnight(last + timedelta(days=1), tz) if last else None
    return since, before


def _segment(key, tz: tzinfo | None, segments: Mapping[str, Mapping] | None) -> Condition | None:
    if key in (None, ""):
        return None
    if not segments or key not in segments:
        raise ConditionError(f"segment: unknown segment {key!r}")
    # a segment filter cannot name another segment: no `segments` passed down
    return parse_condition(segments[key], tz=tz)


def parse_journey_condition(raw) -> Condition:
    """`{tags_any: [...]}`, `{stage: NAME}` or `{churn_status: VALUE}`."""
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise ConditionError("a journey condition is exactly one of tags_any, stage, churn_status")
    (kind, value), = raw.items()
    if kind == "tags_any":
        tags = _names(value, "tags_any")
        if not tags:
            raise ConditionError("tags_any: a tag box needs at least one tag")
        return Condition(tags_any=tags)
    if kind in ("stage", "churn_status"):
        if not isinstance(value, str) or not value:
            raise ConditionError(f"{kind}: {value!r} is not a name")
        if kind == "stage":
            return Condition(stages=frozenset([value]))
        return Condition(churn_statuses=frozenset([value]))
    raise ConditionError(f"unknown journey condition {kind!r}")


def parse_rules(raw_rules: Iterable | None) -> tuple[Rule, ...]:
    """A stage's `rules` in config shape (see rules_journey.rule_conditions)."""
    rules = []
    for raw in raw_rules or ():
        conditions = tuple(parse_journey_condition(c) for c in rule_conditions(raw))
        if not conditions:
            raise ConditionError("a rule needs at least one condition")
        rules.append(Rule(conditions))
    return tuple(rules)


def parse_stages(raw_stages: Iterable[Mapping]) -> tuple[Stage, ...]:
    """A journey's `stages` (each with `key` and `rules`), in order."""
    stages = []
    for raw in raw_stages:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("key"), str):
            raise ConditionError("a stage is a mapping with a key")
        stages.append(Stage(key=raw["key"], rules=parse_rules(raw.get("rules"))))
    return tuple(stages)


# --- the predicate ------------------------------------------------------------
def _owner_in(scope: OwnerScope, customer: CustomerSnapshot) -> bool:
    return (customer.owner_userid is not None and customer.owner_userid in scope.userids) or (
        customer.owner_department is not None
        and customer.owner_department in scope.departments)


def matches(condition: Condition, customer: CustomerSnapshot) -> bool:
    """Whether `customer` satisfies every key of `condition`."""
    c, tags = condition, customer.tags
    checks = (
        c.sources is None or customer.source in c.sources,
        c.tags_any is None or not tags.isdisjoint(c.tags_any),
        c.tags_all is None or c.tags_all <= tags,
        c.tags_none is None or tags.isdisjoint(c.tags_none),
        c.stages is None or customer.lifecycle_stage in c.stages,
        c.churn_statuses is None or customer.churn_status in c.churn_statuses,
        c.tiers is None or customer.tier in c.tiers,
        all(_owner_in(scope, customer) for scope in c.owner_scopes),
        c.added_since is None or customer.added_at >= c.added_since,
        c.added_before is None or customer.added_at < c.added_before,
        c.segment is None or matches(c.segment, customer),
    )
    return all(checks)


def rule_matches(rule: Rule, customer: CustomerSnapshot) -> bool:
    return all(matches(c, customer) for c in rule.conditions)


def stage_matches(rules: Sequence[Rule], customer: CustomerSnapshot) -> bool:
    """OR of the rules; no rules match no one."""
    return any(rule_matches(r, customer) for r in rules)


def last_matching_stage(stages: Sequence[Stage], customer: CustomerSnapshot) -> str | None:
    """The key of the LAST stage, in order, whose rules match (SPEC §4), or None."""
    for stage in reversed(stages):
        if stage_matches(stage.rules, customer):
            return stage.key
    return None
