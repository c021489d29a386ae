"""Helpers for the group-send tests: a body, creating one through the service, reading
its deliveries."""
from __future__ import annotations

from sqlalchemy import select

from config_io.export import known_from_db
from jobs import group_sends
from models import Delivery, GroupSend, db
from models.audit import acting_as


def body(key: str = "gs1", **fields) -> dict:
    out = {"key": key, "text": "双十二会员专享", "target": {"tags_any": ["VIP"]}}
    out.update(fields)
    return out


def create(now, key: str = "gs1", visible=None, **fields) -> GroupSend:
    spec, problems = group_sends.parse(body(key, **fields), known_from_db(db.session), now)
    assert problems == []
    with acting_as("test"):
        group_send, _ = group_sends.create(db.session, now, spec, "test", visible)
    db.session.expire_all()
    return group_send


def group_send_deliveries(key: str, external_id: str | None = None) -> list[Delivery]:
    query = (select(Delivery).join(GroupSend, GroupSend.id == Delivery.group_send_id)
             .where(GroupSend.key == key).order_by(Delivery.id))
    rows = db.session.scalars(query).all()
    return [d for d in rows if external_id is None or d.customer.external_id == external_id]
