"""`POST /api/v1/events`: customer events from other systems (SPEC §8)."""
from __future__ import annotations

from flask import jsonify, request

from api.blueprint import ApiError, api_bp, roles_required
from jobs.events import EventsInvalid, apply_events
from models import db
from models.base import utcnow


@api_bp.post("/events")
@roles_required("ops")
def post_events():
    """One event object or a list; all are applied in one transaction, or none."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested past the parser's depth: not an event, not a 500
        body = None
    if not isinstance(body, (dict, list)):
        raise ApiError(400, "invalid_json", "send one event object or a list of them as JSON")
    try:
        result = apply_events(db.session, body, utcnow())
    except EventsInvalid as exc:
        raise ApiError(422, "invalid_event", [p.as_dict() for p in exc.problems]) from None
    return jsonify(result)
