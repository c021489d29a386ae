"""`GET /api/v1/deliveries?customer=&sop=&group_send=&status=&limit=&offset=`: the ledger
of sends. A group send's deliveries carry `"group_send": key` instead of `sop`."""
from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import select

from api.blueprint import api_bp, roles_required
from api.group_sends import group_send_by_key
from api.scope import READ_ROLES, iso, status_and_page, sop_by_key, visible_customer, visible_customers
from jobs.core.vocab import DELIVERY_STATUSES
from models import Customer, Delivery, Employee, GroupSend, Journey, Sop, db



@api_bp.get("/deliveries")
@roles_required(*READ_ROLES)
def list_deliveries():
    """Ordered by due time, then id; rows limited to the customers the user may see."""
    status, limit, offset = status_and_page(DELIVERY_STATUSES)
    query = (
        select(Delivery.id, Sop.key.label("sop"), Journey.key.label("journey"),
               GroupSend.key.label("group_send"),
               Delivery.stage_key, Delivery.position, Delivery.step_key, Delivery.action,
               Customer.external_id, Employee.userid.label("sender"), Delivery.due_at,
               Delivery.status, Delivery.sent_at, Delivery.reason, Delivery.variant)
        .join(Customer, Customer.id == Delivery.customer_id)
        .outerjoin(Sop, Sop.id == Delivery.sop_id)
        .outerjoin(Journey, Journey.id == Delivery.journey_id)
        .outerjoin(GroupSend, GroupSend.id == Delivery.group_send_id)
        .outerjoin(Employee, Employee.id == Delivery.sender_id)
        .where(visible_customers()))
    if request.args.get("customer"):
        query = query.where(Delivery.customer_id == visible_customer(request.args["customer"]).id)
    if request.args.get("sop"):
        query = query.where(Delivery.sop_id == sop_by_key(request.args["sop"]).id)
    if request.args.get("group_send"):
        query = query.where(
            Delivery.group_send_id == group_send_by_key(request.args["group_send"]).id)
    if status:
        query = query.where(Delivery.status == status)
    rows = db.session.execute(
        query.order_by(Delivery.due_at, Delivery.id).limit(limit).offset(offset)).all()
    return jsonify([{
        "id": r.id, "sop": r.sop, "journey": r.journey, "group_send": r.group_send,
        "stage": r.stage_key,
        "step": r.position, "step_key": r.step_key, "action": r.action,
        "customer": r.external_id, "sender": r.sender, "due_at": iso(r.due_at),
        "status": r.status, "sent_at": iso(r.sent_at), "reason": r.reason,
        "variant": r.variant,
    } for r in rows])
