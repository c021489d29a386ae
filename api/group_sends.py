"""Manual group sends over the API (SPEC §10).

`POST /group_sends` checks the whole body first (422 with one problem per field,
nothing written), then creates the group send and its deliveries and answers 201
with the preview kept at creation; the same `key` again changes nothing and answers
the same. A manager's group send reaches only their department's customers.
An `at` in the past is taken as the time of the call (a replay, a test), as `at` is on
the other state-changing calls. `GET /group_sends/<key>` counts its deliveries per status in the caller's scope;
`POST /group_sends/<key>/cancel` stops what is not handed over yet.
"""
from __future__ import annotations

from flask import g, jsonify, request
from sqlalchemy import select

from api.blueprint import ApiError, api_bp, roles_required
from api.scope import at_from, iso, json_body, visible_customers
from api.sops import wake_tick
from config_io.export import known_from_db
from jobs import group_sends
from models import Customer, GroupSend, db

GROUP_SEND_ROLES = ("ops", "manager")


def visible_ids():
    """None for every customer (admin, ops), else the SELECT of the caller's customers."""
    if g.api_user.role in ("admin", "ops"):
        return None
    return select(Customer.id).where(visible_customers())


def group_send_by_key(key: str, name: str = "group_send") -> GroupSend:
    found = group_sends.by_key(db.session, key)
    if found is None:
        raise ApiError(404, "not_found", f"{name}: no group send with key {key!r}")
    return found


@api_bp.post("/group_sends")
@roles_required(*GROUP_SEND_ROLES)
def create_group_send():
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "send a JSON object")
    now = at_from({})
    existing = group_sends.by_key(db.session, data.get("key")) \
        if isinstance(data.get("key"), str) else None
    if existing is not None:  # idempotent: the first answer, whatever this body says
        return jsonify(group_sends.answer(existing)), 201
    spec, problems = group_sends.parse(data, known_from_db(db.session), now)
    if problems:
        db.session.rollback()
        raise ApiError(422, "invalid_group_send",
                       [{"field": p.path, "problem": p.message} for p in problems])
    if spec.at is not None and spec.at < now:  # a past `at`: sent at once, as of then
        now = spec.at  # (a replay or a test, like `at` on the other calls)
    group_send, made = group_sends.create(db.session, now, spec,
                                          f"api:{g.api_user.username}", visible_ids())
    if made and group_send.at <= now:
        wake_tick()
    return jsonify(group_sends.answer(group_send)), 201


@api_bp.get("/group_sends/<key>")
@roles_required(*GROUP_SEND_ROLES)
def get_group_send(key: str):
    group_send = group_send_by_key(key)
    counts = group_sends.status_counts(db.session, [group_send.id], visible_ids())
    return jsonify({
        **group_sends.details(group_send), "text": group_send.text,
        "attachments": [m.key for m in group_send.attachments], "target": group_send.target,
        "senders": group_send.senders, "priority": group_send.priority,
        "batch": {"size": group_send.batch_size,
                  "interval_minutes": group_send.batch_interval_minutes},
        "created_by": group_send.created_by, "created_at": iso(group_send.created_at),
        "deliveries": counts[group_send.id],
        "held": group_sends.held(db.session, group_send.id, visible_ids())})


@api_bp.post("/group_sends/<key>/cancel")
@roles_required(*GROUP_SEND_ROLES)
def cancel_group_send(key: str):
    """What is not handed over yet is cancelled, its quota given back; again: 0."""
    group_send = group_send_by_key(key)
    if not group_sends.may_cancel(g.api_user.role, g.api_user.username, group_send):
        raise ApiError(403, "forbidden", "a manager cancels only the group sends they made")
    now = at_from(json_body(("at",)))
    cancelled = group_sends.cancel(db.session, group_send, now)
    return jsonify({**group_sends.details(group_send), "cancelled": cancelled})
