"""SOPs over the API (SPEC §8): list and read them, start/pause/resume/end them, end or
add one customer by hand, and preview one (a dry run that writes nothing).

Moves call `jobs.lifecycle`; a move the SOP's state does not allow answers 409. A
start or resume asks for a tick at once; if Redis is unreachable the periodic tick
does the same work a minute later, so the request still succeeds.
"""
from __future__ import annotations

from dataclasses import asdict
from zoneinfo import ZoneInfo

from flask import current_app, g, jsonify, request
from redis.exceptions import RedisError
from sqlalchemy import func, select

from api.blueprint import ApiError, api_bp, roles_required
from api.customers import enrollment_dict
from api.scope import (
    at_from, int_arg, iso, json_body, sop_by_key, visible_customer, visible_customers,
)
from jobs import analytics
from jobs import lifecycle, variant_stats
from jobs.core.vocab import ENROLLMENT_STATUSES
from jobs.engine_jobs import enqueue_tick
from jobs.events import MAX_TAGS
from jobs.preview import MAX_DAYS, preview
from models import Customer, Enrollment, Settings, Sop, Tag, db
from config_io.export import sop_to_dict

SOP_READ_ROLES = ("ops", "manager")
SOP_WRITE_ROLES = ("ops",)
MOVES = {"start": lifecycle.start, "pause": lifecycle.pause, "resume": lifecycle.resume,
         "end": lifecycle.end_sop}
WAKE_TICK = ("start", "resume")  # the next tick has entries or sends to catch up on
TAG_NAME_LENGTH = Tag.__table__.c.name.type.length


def enrollment_counts(sop_ids) -> dict[int, dict[str, int]]:
    counts = {sop_id: dict.fromkeys(ENROLLMENT_STATUSES, 0) for sop_id in sop_ids}
    for sop_id, status, n in db.session.execute(
            select(Enrollment.sop_id, Enrollment.status, func.count())
            .where(Enrollment.sop_id.in_(list(counts)))
            .group_by(Enrollment.sop_id, Enrollment.status)):
        counts[sop_id][status] = n
    return counts


def status_dict(sop: Sop, counts: dict[str, int]) -> dict:
    return {
        "key": sop.key, "name": sop.name, "kind": sop.kind, "status": sop.status,
        "priority": sop.priority, "version": sop.version,
        "started_at": iso(sop.started_at), "initialized_at": iso(sop.initialized_at),
        "ended_at": iso(sop.ended_at), "init_progress": sop.init_progress,
        "enrollments": counts,
    }


def sop_status(sop: Sop) -> dict:
    return status_dict(sop, enrollment_counts([sop.id])[sop.id])


@api_bp.get("/sops")
@roles_required(*SOP_READ_ROLES)
def list_sops():
    sops = db.session.scalars(select(Sop).order_by(Sop.priority.desc(), Sop.key)).all()
    counts = enrollment_counts([s.id for s in sops])
    return jsonify([status_dict(s, counts[s.id]) for s in sops])


@api_bp.get("/sops/<key>")
@roles_required(*SOP_READ_ROLES)
def get_sop(key: str):
    """The SOP as config as code, with its real status and the enrollment counts."""
    sop = sop_by_key(key)
    return jsonify({**sop_to_dict(sop), **sop_status(sop)})


def move_sop(key: str, action: str):
    now = at_from(json_body(("at",)))
    sop = sop_by_key(key)
    try:
        MOVES[action](db.session, sop, now)
    except lifecycle.LifecycleError as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    db.session.commit()
    if action in WAKE_TICK:
        wake_tick()
    return jsonify(sop_status(sop))


for _action in MOVES:  # one rule per move, so an unknown move is a plain 404
    api_bp.add_url_rule(f"/sops/<key>/{_action}", f"sop_{_action}",
                        roles_required(*SOP_WRITE_ROLES)(move_sop),
                        methods=["POST"], defaults={"action": _action})


def wake_tick() -> None:
    try:
        enqueue_tick(current_app._get_current_object())
    except (RedisError, OSError) as exc:
        current_app.logger.warning("no tick enqueued (the periodic one will run): %s", exc)


def rate_dict(r) -> dict:
    return {"entrants": r.entrants, "converted": r.converted, "rate": r.value,
            "ci95": [r.low, r.high] if r.low is not None else None}


def cohort_dict(c) -> dict:
    lift = c.lift
    return {"week": c.week.isoformat() if c.week else None, "all": rate_dict(c.everyone),
            "messaged": rate_dict(c.messaged), "holdout": rate_dict(c.holdout),
            "lift": None if lift.difference is None else {
                "difference": lift.difference, "ci95": [lift.low, lift.high],
                "relative": lift.relative},
            "window_open": c.window_open}


@api_bp.get("/sops/<key>/stats")
@roles_required(*SOP_READ_ROLES)
def sop_stats(key: str):
    """The data page's figures (SPEC §3 效果分析): totals, per-step funnel, sends per
    day and the N-day conversion with the holdout's lift, in the user's customer scope."""
    now = at_from(request.args)
    sop = sop_by_key(key)
    visible = None if g.api_user.role in ("admin", "ops") else \
        select(Customer.id).where(visible_customers())
    stats = analytics.sop_stats(db.session, sop, now, ZoneInfo(Settings.get(db.session).timezone),
                                visible)
    db.session.commit()  # Settings.get may have created the row
    conversion = stats.conversion
    return jsonify({
        "sop": sop.key, "at": iso(now), "totals": asdict(stats.totals),
        "funnel": [{"step": r.position, "label": r.label, "due": r.due, **r.counts,
                    "holdout": r.holdout} for r in stats.funnel],
        "sends": [{"date": d.day.isoformat(), "handed": d.handed, "confirmed": d.confirmed}
                  for d in stats.sends],
        "conversion": {"days": conversion.days, "holdout_percent": conversion.holdout_percent,
                       **cohort_dict(conversion.overall),
                       "weeks": [cohort_dict(w) for w in conversion.weeks]},
        "variants": variant_stats.as_json(variant_stats.variant_stats(db.session, sop, visible)),
    })


@api_bp.post("/sops/<key>/customers/<external_id>/end")
@roles_required(*SOP_WRITE_ROLES)
def end_customer(key: str, external_id: str):
    """Manual end (手动结束) of one customer's enrollment, with optional tags and flow."""
    body = json_body(("add_tags", "flow_to", "at"))
    now = at_from(body)
    add_tags = tag_names(body.get("add_tags"))
    sop, customer = sop_by_key(key), visible_customer(external_id)
    flow_to = None
    if body.get("flow_to") is not None:
        if not isinstance(body["flow_to"], str):
            raise ApiError(400, "invalid_parameter", "flow_to: must be an SOP key")
        flow_to = db.session.scalar(select(Sop).where(Sop.key == body["flow_to"]))
        if flow_to is None:
            raise ApiError(400, "invalid_parameter",
                           f"flow_to: no SOP with key {body['flow_to']!r}")
    enrollment = enrollment_of(sop, customer)
    if enrollment.status != "active":
        raise ApiError(409, "conflict", f"customer {external_id} is {enrollment.status} in "
                                        f"{sop.key}, not active")
    try:
        lifecycle.end_customers(db.session, sop, [customer.id], now, add_tags, flow_to)
    except lifecycle.LifecycleError as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    db.session.commit()
    db.session.refresh(enrollment)
    return jsonify(enrollment_dict(enrollment))


@api_bp.post("/sops/<key>/customers/<external_id>/enroll")
@roles_required(*SOP_WRITE_ROLES)
def enroll_customer(key: str, external_id: str):
    """Start a playbook for one customer, or re-add one whose enrollment ended."""
    now = at_from(json_body(("at",)))
    sop, customer = sop_by_key(key), visible_customer(external_id)
    try:
        enrollment = lifecycle.enroll_by_hand(db.session, sop, customer, now)
    except lifecycle.LifecycleError as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    db.session.commit()
    wake_tick()  # its first steps may be due today
    return jsonify(enrollment_dict(enrollment))


@api_bp.get("/sops/<key>/preview")
@roles_required(*SOP_WRITE_ROLES)
def preview_sop(key: str):
    """Who would enter now and the send calendar; `at` previews as of another time."""
    days = int_arg("days", 30, 1, MAX_DAYS)
    now = at_from(request.args)
    sop = sop_by_key(key)
    result = preview(db.session, sop, now, days)
    return jsonify({"sop": sop.key, "at": iso(now), "days": days, **result})


def enrollment_of(sop: Sop, customer) -> Enrollment:
    enrollment = db.session.scalar(select(Enrollment).where(
        Enrollment.sop_id == sop.id, Enrollment.customer_id == customer.id))
    if enrollment is None:
        raise ApiError(404, "not_found",
                       f"customer {customer.external_id} has no enrollment in {sop.key}")
    return enrollment


def tag_names(value) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_TAGS or not all(
            isinstance(v, str) and v.strip() and len(v.strip()) <= TAG_NAME_LENGTH
            for v in value):
        raise ApiError(400, "invalid_parameter", f"add_tags: a list of at most {MAX_TAGS} "
                                                 f"tag names of 1 to {TAG_NAME_LENGTH} characters")
    return list(dict.fromkeys(v.strip() for v in value))
