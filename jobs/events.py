"""Customer events in (SPEC §8 `POST /events`): check every event, then apply them all.

`apply_events(session, body, now)` takes the posted JSON (one event or a list),
validates all of it against the shapes below and the database, and either raises
`EventsInvalid` having written nothing, or applies every event in one transaction
and commits. Each event that changes a customer writes one ChangeJournal row.

Decisions (documented for API users):
- An event `id` is applied once; a repeat counts as a duplicate. Events whose id
  was already processed are not checked against the database again.
- `customer_added` for a customer that exists is a re-add: it updates the given
  fields like `customer_updated` and brings a lost or dormant customer back to
  normal; `added_at` and unchanged fields stay.
- `tags` on customer_added / customer_updated add tags (never remove others).
- An `order_placed` whose order_id the customer already has is a duplicate.
- Replays: an event changes a field (or a tag) only if no journalled change of
  that field (or TagChange of that tag) is newer than the event; older events are
  still accepted, they just do not undo newer state.
- Interactions (customer_added, order_placed, followup_logged) move
  last_interaction_at forward.
- `followup_logged` records a follow-up (SPEC §6) by `employee` (a userid; default
  the customer's owner): its outcome updates the customer (jobs/followups.py).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from jobs.core.vocab import CUSTOMER_TYPES, EVENT_TYPES, FOLLOWUP_METHODS, FOLLOWUP_OUTCOMES
from jobs.event_apply import EventApplier
from models import ProcessedEvent

MAX_EVENTS = 1000  # per request: bounds one transaction
MAX_TAGS = 100
MAX_MONEY = Decimal("999999999999.99")  # Numeric(14, 2)
ATTEMPTS = 3  # a concurrent request inserting the same ids/orders/tags makes us retry

COMMON = ("type", "external_id", "id", "at")
PROFILE = ("name", "source", "owner", "tags", "customer_type", "phone", "industry",
           "annual_value")
FIELDS = {
    "customer_added": PROFILE, "customer_updated": PROFILE, "owner_changed": ("owner",),
    "customer_lost": (), "tag_added": ("tags",), "tag_removed": ("tags",),
    "stage_changed": ("stage",), "order_placed": ("amount", "order_id"),
    "followup_logged": ("employee", "method", "key_points", "feedback", "next_action",
                        "next_date", "collab_department", "outcome", "lost_reason"),
}
REQUIRED = {
    "customer_added": ("name",), "owner_changed": ("owner",), "tag_added": ("tags",),
    "tag_removed": ("tags",), "stage_changed": ("stage",),
    "order_placed": ("amount", "order_id"), "followup_logged": ("method", "key_points"),
}
PROFILE_EVENTS = ("customer_added", "customer_updated")  # `tags` may be an empty list there
assert set(FIELDS) == set(EVENT_TYPES)


@dataclass
class Event:
    index: int
    type: str
    external_id: str
    at: datetime
    id: str | None = None
    fields: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    index: int | None
    field: str | None
    message: str

    def as_dict(self) -> dict:
        return {"index": self.index, "field": self.field, "message": self.message}


class EventsInvalid(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__(f"{len(problems)} invalid event field(s)")
        self.problems = problems


# --- field checks: return the clean value or raise ValueError(message) -------------
def _string(limit: int, nullable: bool = False) -> Callable:
    def check(value):
        if value is None and nullable:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty string")
        if len(value.strip()) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return value.strip()
    return check


def _money(value) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("must be a number")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("must be a number") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError("must be a number ≥ 0")
    if amount > MAX_MONEY:
        raise ValueError(f"must be at most {MAX_MONEY}")
    return amount.quantize(Decimal("0.01"))


def _tags(allow_empty: bool) -> Callable:
    name = _string(100)

    def check(value):
        if not isinstance(value, list) or (not value and not allow_empty):
            raise ValueError("must be a non-empty list of tag names")
        if len(value) > MAX_TAGS:
            raise ValueError(f"at most {MAX_TAGS} tags")
        return list(dict.fromkeys(name(v) for v in value))
    return check


def _customer_type(value):
    if value not in CUSTOMER_TYPES:
        raise ValueError(f"must be one of {', '.join(CUSTOMER_TYPES)}")
    return value


def _one_of(values: tuple) -> Callable:
    def check(value):
        if value not in values:
            raise ValueError(f"must be one of {', '.join(values)}")
        return value
    return check


def _date(value) -> date:
    if not isinstance(value, str):
        raise ValueError("must be a date, e.g. 2025-03-01")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a date, e.g. 2025-03-01") from None


def parse_time(value) -> datetime:
    """ISO 8601 with a UTC offset; a naive time is refused, never guessed."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 string")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 time, e.g. 2025-03-01T10:00:00+08:00") from None
    if at.tzinfo is None:
        raise ValueError("needs a UTC offset, e.g. +08:00 or Z")
    return at


CHECKS = {
    "external_id": _string(64), "id": _string(100), "at": parse_time,
    "name": _string(200), "source": _string(100, nullable=True), "owner": _string(64),
    "customer_type": _customer_type, "phone": _string(40, nullable=True),
    "industry": _string(100, nullable=True), "annual_value": _money, "amount": _money,
    "order_id": _string(64), "stage": _string(50),
    "employee": _string(64), "method": _one_of(FOLLOWUP_METHODS),
    "key_points": _string(4000), "feedback": _string(4000, nullable=True),
    "next_action": _string(1000, nullable=True), "next_date": _date,
    "collab_department": _string(100, nullable=True), "outcome": _one_of(FOLLOWUP_OUTCOMES),
    "lost_reason": _string(1000, nullable=True),
}


def _parse_one(index: int, raw, now: datetime, problems: list[Problem]) -> Event | None:
    def problem(name, message):
        problems.append(Problem(index, name, message))

    if not isinstance(raw, dict):
        problem(None, "must be an object")
        return None
    kind = raw.get("type")
    if kind not in FIELDS:
        problem("type", f"must be one of {', '.join(EVENT_TYPES)}")
        return None
    allowed = COMMON + FIELDS[kind]
    clean = {}
    for name, value in raw.items():
        if name not in allowed:
            problem(name, f"unknown field for {kind}")
            continue
        if name == "type":
            continue
        check = _tags(allow_empty=kind in PROFILE_EVENTS) if name == "tags" else CHECKS[name]
        try:
            clean[name] = check(value)
        except ValueError as exc:
            problem(name, str(exc))
    for name in ("external_id",) + REQUIRED.get(kind, ()):
        if name not in raw:
            problem(name, "is required")
    if kind == "customer_updated" and not set(raw) & set(PROFILE):
        problem(None, f"give at least one of {', '.join(PROFILE)}")
    if clean.get("outcome") == "lost" and not clean.get("lost_reason"):
        problem("lost_reason", "is required when the outcome is lost")
    if len(problems) or "external_id" not in clean:
        return None
    return Event(index=index, type=kind, external_id=clean.pop("external_id"),
                 at=clean.pop("at", now), id=clean.pop("id", None), fields=clean)


def parse_events(body, now: datetime) -> list[Event]:
    """Shape checks only (no database): the clean events, or EventsInvalid."""
    items = body if isinstance(body, list) else [body]
    if len(items) > MAX_EVENTS:
        raise EventsInvalid([Problem(None, None, f"at most {MAX_EVENTS} events per request")])
    problems: list[Problem] = []
    events = []
    for index, raw in enumerate(items):
        found: list[Problem] = []
        event = _parse_one(index, raw, now, found)
        problems += found
        if event is not None:
            events.append(event)
    if problems:
        raise EventsInvalid(problems)
    return events


def apply_events(session, body, now: datetime) -> dict:
    """Validate `body`, apply it in one transaction and commit: {accepted, duplicates}."""
    events = parse_events(body, now)
    attempt = 1
    while True:
        try:
            result = _apply_all(session, events, now)
            session.commit()
            return result
        except EventsInvalid:
            session.rollback()
            raise
        except IntegrityError:
            # Another request committed the same event id, order or new tag first:
            # start over; the next pass sees its rows and counts them as duplicates.
            session.rollback()
            if attempt == ATTEMPTS:
                raise
            attempt += 1


def _apply_all(session, events: list[Event], now: datetime) -> dict:
    ids = {e.id for e in events if e.id}
    seen = set(session.scalars(select(ProcessedEvent.event_id)
                               .where(ProcessedEvent.event_id.in_(ids)))) if ids else set()
    fresh, duplicates = [], 0
    for event in events:
        if event.id and event.id in seen:
            duplicates += 1
            continue
        if event.id:
            seen.add(event.id)
        fresh.append(event)

    applier = EventApplier(session, fresh)
    problems = [Problem(e.index, name, message) for e, name, message in applier.check()]
    if problems:
        raise EventsInvalid(problems)
    accepted = 0
    for event in fresh:
        if applier.apply(event):
            accepted += 1
        else:
            duplicates += 1
        if event.id:
            session.add(ProcessedEvent(event_id=event.id, received_at=now))
    session.flush()
    return {"accepted": accepted, "duplicates": duplicates}
