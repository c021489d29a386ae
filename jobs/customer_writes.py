"""Changes the engine makes to customers (auto-tags, tag and stage steps), set-based.

Each change is recorded like any other: customer_tags/tag_changes with source
'sop', and one change-journal row per customer, so the next tick sees it (a tag
an SOP adds can end another SOP early or move a journey stage). With the channel
`wecom`, each added or removed tag is also queued for writing back (jobs/wecom_tags.py).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select, tuple_, update
from sqlalchemy.orm import Session

from jobs.wecom_tags import queue_tag_writes
from models import ChangeJournal, Customer, CustomerTag, Tag, TagChange
from models.one_of import one_of

SOURCE = "sop"
CHUNK = 5000


def chunks(ids: Sequence[int], size: int = CHUNK) -> Iterable[list[int]]:
    ids = sorted(set(ids))
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def tag_ids(session: Session, names: Iterable[str]) -> dict[str, int]:
    """Ids of these tags, creating the missing ones."""
    names = sorted(set(names))
    found = dict(session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(names))).all())
    for name in names:
        if name not in found:
            tag = Tag(name=name)
            session.add(tag)
            session.flush()
            found[name] = tag.id
    return found


def change_tags(session: Session, customer_ids: Sequence[int], now: datetime,
                add: Sequence[str] = (), remove: Sequence[str] = ()) -> int:
    """Add and remove tags on these customers; returns how many customers changed."""
    if not customer_ids or not (add or remove):
        return 0
    ids_by_name = tag_ids(session, [*add, *remove])
    names = {i: n for n, i in ids_by_name.items()}
    wanted_add = {ids_by_name[n] for n in add}
    wanted_remove = {ids_by_name[n] for n in remove} - wanted_add
    changed = 0
    for part in chunks(customer_ids):
        have = set(session.execute(select(CustomerTag.customer_id, CustomerTag.tag_id).where(
            one_of(CustomerTag.customer_id, part),
            CustomerTag.tag_id.in_(wanted_add | wanted_remove))).all())
        added = [(c, t) for c in part for t in sorted(wanted_add) if (c, t) not in have]
        removed = [(c, t) for c, t in sorted(have) if t in wanted_remove]
        if added:
            session.execute(insert(CustomerTag), [
                {"customer_id": c, "tag_id": t, "added_at": now, "source": SOURCE}
                for c, t in added])
        if removed:
            session.execute(delete(CustomerTag).where(
                tuple_(CustomerTag.customer_id, CustomerTag.tag_id).in_(removed)))
        queue_tag_writes(session, added, removed, now)  # to WeCom, when that is the channel
        history = [("added", pair) for pair in added] + [("removed", pair) for pair in removed]
        if not history:
            continue
        session.execute(insert(TagChange), [
            {"customer_id": c, "tag_id": t, "action": action, "source": SOURCE, "at": now}
            for action, (c, t) in history])
        detail: dict[int, dict] = defaultdict(lambda: {"added": [], "removed": []})
        for action, (c, t) in history:
            detail[c][action].append(names[t])
        journal(session, [(c, "tags", d) for c, d in detail.items()], now)
        changed += len(detail)
    return changed


def set_stage(session: Session, customer_ids: Sequence[int], stage: str, now: datetime) -> int:
    """Set the lifecycle stage; returns how many customers changed."""
    changed = 0
    for part in chunks(customer_ids):
        before = session.execute(select(Customer.id, Customer.lifecycle_stage).where(
            one_of(Customer.id, part), Customer.lifecycle_stage.is_distinct_from(stage))).all()
        if not before:
            continue
        session.execute(update(Customer).where(one_of(Customer.id, [c for c, _ in before]))
                        .values(lifecycle_stage=stage, updated_at=now))
        journal(session, [(c, "stage", {"from": old, "to": stage}) for c, old in before], now)
        changed += len(before)
    return changed


def journal(session: Session, rows: Sequence[tuple[int, str, dict]], now: datetime,
            source: str = SOURCE) -> None:
    if rows:
        session.execute(insert(ChangeJournal), [
            {"customer_id": c, "kind": kind, "detail": detail, "at": now, "source": source}
            for c, kind, detail in rows])
