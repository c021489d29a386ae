"""The audit log, written for every ORM write to an audited model.

A session listener turns each flushed insert/update/delete into one row with
who, what, and the values before and after, so no screen or command can forget.
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Integer, String, event, inspect, insert
from sqlalchemy.orm import ColumnProperty, Mapped, Session, mapped_column
from sqlalchemy.orm.attributes import PASSIVE_NO_INITIALIZE, get_history

from models.base import UTCDateTime, db, utcnow

_actor: contextvars.ContextVar[str] = contextvars.ContextVar("audit_actor", default="system")


class AuditLog(db.Model):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(10))  # create / update / delete
    object_type: Mapped[str] = mapped_column(String(40), index=True)
    object_id: Mapped[int | None] = mapped_column(Integer)
    summary: Mapped[str | None] = mapped_column(String(200))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)


def current_actor() -> str:
    return _actor.get()


def set_actor(name: str) -> None:
    _actor.set(name)


@contextmanager
def acting_as(name: str):
    token = _actor.set(name)
    try:
        yield
    finally:
        _actor.reset(token)


def _plain(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) if isinstance(v, (str, int, float, bool, type(None), list, dict))
                else str(v) for v in value]
    if isinstance(value, db.Model):
        return str(value)
    return value


def _values(obj, which: str) -> dict:
    """Column and collection values of `obj`: 'old' before this flush, 'new' after."""
    mapper = inspect(obj).mapper
    hidden = set(getattr(obj, "__audit_hidden__", ()))
    out = {}
    for attr in list(mapper.column_attrs) + list(mapper.relationships):
        is_column = isinstance(attr, ColumnProperty)
        if attr.key in hidden or (not is_column and (not attr.uselist or attr.viewonly)):
            continue
        # Never load a collection during a flush just to audit it: one that was not
        # loaded was not changed through this session (orders, tags of a customer).
        hist = get_history(obj, attr.key, passive=PASSIVE_NO_INITIALIZE)
        if not is_column and not (hist.added or hist.unchanged or hist.deleted):
            continue
        if which == "new":
            value = hist.sum()
        else:
            value = list(hist.unchanged) + list(hist.deleted)
        if is_column:
            value = value[0] if value else None
        out[attr.key] = _plain(value)
    return out


def _changed_hidden(obj) -> list[str]:
    """Secret columns that changed: recorded as changed, never with their values."""
    return [name for name in getattr(obj, "__audit_hidden__", ())
            if get_history(obj, name).has_changes()]


def _changed(obj) -> bool:
    state = inspect(obj)
    return any(state.attrs[a.key].history.has_changes()
               for a in list(state.mapper.column_attrs) + list(state.mapper.relationships))


def _audit_after_flush(session: Session, flush_context) -> None:
    rows = []
    actor = current_actor()
    for action, objs in (("create", session.new), ("update", session.dirty),
                         ("delete", session.deleted)):
        for obj in objs:
            if not getattr(obj, "__audited__", False):
                continue
            if action == "update" and not _changed(obj):
                continue
            before = None if action == "create" else _values(obj, "old")
            after = None if action == "delete" else _values(obj, "new")
            if action == "update":  # keep only what changed; a no-op is not a write
                keys = [k for k in after if before.get(k) != after.get(k)]
                secret = _changed_hidden(obj)
                if not keys and not secret:
                    continue
                before = {k: before[k] for k in keys} | {k: "(hidden)" for k in secret}
                after = {k: after[k] for k in keys} | {k: "(changed)" for k in secret}
            rows.append({
                "at": utcnow(), "actor": actor, "action": action,
                "object_type": type(obj).__name__,
                "object_id": inspect(obj).identity[0] if inspect(obj).identity else None,
                "summary": str(obj)[:200], "before": before, "after": after,
            })
    if rows:
        session.connection().execute(insert(AuditLog.__table__), rows)


def audit_bulk(session: Session, object_type: str, summary: str, counts: dict) -> None:
    """One audit row for a set-based write that bypasses the per-row listener."""
    session.execute(insert(AuditLog.__table__), [{
        "at": utcnow(), "actor": current_actor(), "action": "create",
        "object_type": object_type, "object_id": None, "summary": summary[:200],
        "before": None, "after": counts}])


def install_audit() -> None:
    """Attach the listener once per process (idempotent)."""
    if not event.contains(Session, "after_flush", _audit_after_flush):
        event.listen(Session, "after_flush", _audit_after_flush)
