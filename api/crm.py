"""CRM calls over the API (SPEC §6): raise a customer request, decide a review.

`POST /api/v1/requests` {"customer": external_id, "assignee": userid, "title",
"text"?, "at"?}: a request task for the assignee, answer due within the SLA.
`POST /api/v1/customers/<external_id>/review` {"decision": "approve"|"reject",
"reason"?, "at"?}: a manager's (or admin's) decision on a pending record; a
rejection needs a reason. Follow-ups are logged as `followup_logged` events.
"""
from __future__ import annotations

from flask import g, jsonify
from sqlalchemy import select

from api.blueprint import ApiError, api_bp, roles_required
from api.scope import at_from, iso, json_body, visible_customer
from jobs import crm_tasks
from models import Employee, db


def text_field(body: dict, name: str, limit: int, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "invalid_parameter", f"{name}: must be a non-empty string")
    if len(value.strip()) > limit:
        raise ApiError(400, "invalid_parameter", f"{name}: at most {limit} characters")
    return value.strip()


@api_bp.post("/requests")
@roles_required("manager", "sales", "service")
def create_request():
    body = json_body(("customer", "assignee", "title", "text", "at"))
    now = at_from(body)
    customer = visible_customer(text_field(body, "customer", 64))
    userid = text_field(body, "assignee", 64)
    assignee = db.session.scalar(select(Employee).where(Employee.userid == userid,
                                                        Employee.active.is_(True)))
    if assignee is None:
        raise ApiError(400, "invalid_parameter", f"assignee: no active employee {userid!r}")
    task = crm_tasks.create_request(db.session, customer, assignee,
                                    text_field(body, "title", 200),
                                    text_field(body, "text", 4000, required=False), now)
    db.session.commit()
    return jsonify({"id": task.id, "kind": "request", "employee": assignee.userid,
                    "deadline_at": iso(task.deadline_at)}), 201


@api_bp.post("/customers/<external_id>/review")
@roles_required("manager")
def review_customer(external_id: str):
    body = json_body(("decision", "reason", "at"))
    now = at_from(body)
    decision = body.get("decision")
    if decision not in ("approve", "reject"):
        raise ApiError(400, "invalid_parameter", "decision: must be approve or reject")
    customer = visible_customer(external_id)
    reason = body.get("reason") if isinstance(body.get("reason"), str) else None
    try:
        crm_tasks.decide(db.session, customer, decision == "approve", reason, now,
                         by=g.api_user.username)
    except crm_tasks.ReviewConflict as exc:
        db.session.rollback()
        raise ApiError(409, "conflict", str(exc)) from None
    except crm_tasks.ReviewError as exc:
        db.session.rollback()
        raise ApiError(400, "invalid_parameter", f"reason: {exc}") from None
    db.session.commit()
    return jsonify({"customer": customer.external_id, "review_status": customer.review_status,
                    "reason": customer.review_reason})
