"""What the callbacks leave to jobs (SPEC §9): a contact's details, the tag catalogue.

`sync_contact` fetches `externalcontact/get` for an add or edit callback and applies
what it says as events (ids derived from the callback's key, so a re-run is a
duplicate): the profile as customer_updated, the corp tags the owner set as
tag_added / tag_removed against the customer's WeCom-linked tags.
`sync_tag_catalogue` keeps `Tag.wecom_id` in step with get_corp_tag_list.

A tag's name is its key in SOPs and journeys, so a tag renamed in WeCom is not
renamed here: the old tag loses its WeCom id and the new name gets (or links) one.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from jobs.core import wecom_events as W
from jobs.events import apply_events
from models import Customer, CustomerTag, Employee, Tag, WeComCallback, WeComTagWrite


def link_tags(session, wecom_tags: Iterable[W.WeComTag], counts: Counter | None = None
              ) -> list[str]:
    """Product tags for these WeCom tags (linked by id, else by name, else created);
    their names."""
    counts = Counter() if counts is None else counts
    names = []
    for t in wecom_tags:
        row = session.scalar(select(Tag).where(Tag.wecom_id == t.wecom_id))
        if row is not None and row.name != t.name:  # renamed in WeCom: the name is a key here
            row.wecom_id = None
            session.flush()
            counts["unlinked"] += 1
            row = None
        if row is None:
            row = session.scalar(select(Tag).where(Tag.name == t.name))
            if row is None:
                row = Tag(name=t.name, group_name=t.group, wecom_id=t.wecom_id)
                session.add(row)
                counts["created"] += 1
            elif row.wecom_id is None:
                row.wecom_id = t.wecom_id
                counts["linked"] += 1
        if t.group and row.group_name != t.group:
            row.group_name = t.group
        session.flush()
        names.append(row.name)
    return names


def sync_tag_catalogue(session, now: datetime, wecom_tags: list[W.WeComTag]) -> dict:
    counts: Counter = Counter()
    link_tags(session, wecom_tags, counts)
    current = {t.wecom_id for t in wecom_tags}
    for row in session.scalars(select(Tag).where(Tag.wecom_id.is_not(None))):
        if row.wecom_id not in current:  # deleted in WeCom: the product tag stays
            row.wecom_id = None
            counts["unlinked"] += 1
    session.commit()
    return {"tags": len(wecom_tags), **counts}


def sync_contact(session, now: datetime, callback_id: int, answer: dict) -> dict:
    """Apply `answer` (externalcontact/get for the callback's contact) and commit."""
    row = session.get(WeComCallback, callback_id)
    profile = W.contact_profile(answer, row.userid)
    names = link_tags(session, profile.tags)
    customer = session.scalar(select(Customer).where(Customer.external_id == row.external_userid))
    base = {"external_id": row.external_userid, "at": row.created_at.isoformat()}
    if customer is None:  # an edit of a contact the product never saw added
        event = {**base, "id": W.derived_key(row.event_key, "added"), "type": "customer_added",
                 **profile.fields, "tags": names}
        if row.userid and session.scalar(select(Employee.id).where(Employee.userid == row.userid)):
            event["owner"] = row.userid
        events = [event]
    else:
        events = [{**base, "id": W.derived_key(row.event_key, "profile"), "type": "customer_updated",
                   **profile.fields}]
        added, removed = W.tag_diff(set(names), *_linked_and_pending(session, customer.id))
        if added:
            events.append({**base, "id": W.derived_key(row.event_key, "tags+"), "type": "tag_added",
                           "tags": added})
        if removed:
            events.append({**base, "id": W.derived_key(row.event_key, "tags-"),
                           "type": "tag_removed", "tags": removed})
    result = apply_events(session, events, now)
    row = session.get(WeComCallback, callback_id)
    row.synced_at = now
    session.commit()
    return result


def _linked_and_pending(session, customer_id: int) -> tuple[set, set, set]:
    """The customer's WeCom-linked tags, and those with a write-back to add / remove
    still pending."""
    linked = set(session.scalars(
        select(Tag.name).join(CustomerTag, CustomerTag.tag_id == Tag.id)
        .where(CustomerTag.customer_id == customer_id, Tag.wecom_id.is_not(None))))
    pending = session.execute(
        select(WeComTagWrite.action, Tag.name).join(Tag, Tag.id == WeComTagWrite.tag_id)
        .where(WeComTagWrite.customer_id == customer_id,
               WeComTagWrite.status == "pending")).all()
    return (linked, {n for a, n in pending if a == "add"},
            {n for a, n in pending if a == "remove"})


def unsynced(session, before: datetime, limit: int = 100) -> list[int]:
    """Add/edit callbacks whose details were never fetched (a lost job), oldest first."""
    return list(session.scalars(
        select(WeComCallback.id).where(
            WeComCallback.synced_at.is_(None), WeComCallback.status == "accepted",
            WeComCallback.change_type.in_((W.ADDED, W.EDITED)),
            WeComCallback.received_at < before)
        .order_by(WeComCallback.id).limit(limit)))
