"""`GET /api/v1/customers/<external_id>`: a customer, its tags, SOPs and journey stages."""
from __future__ import annotations

from flask import jsonify
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from api.blueprint import api_bp, roles_required
from api.scope import READ_ROLES, iso, sees_money, visible_customer
from models import Enrollment, Journey, JourneyPlacement, JourneyStage, db


@api_bp.get("/customers/<external_id>")
@roles_required(*READ_ROLES)
def get_customer(external_id: str):
    customer = visible_customer(external_id)
    money = sees_money()
    return jsonify({
        "external_id": customer.external_id,
        "name": customer.name,
        "customer_type": customer.customer_type,
        "industry": customer.industry,
        "phone": customer.phone,
        "address": customer.address,
        "source": customer.source,
        "owner": customer.owner.userid if customer.owner else None,
        "added_at": iso(customer.added_at),
        "lifecycle_stage": customer.lifecycle_stage,
        "churn_status": customer.churn_status,
        # the tier follows from the annual value, so neither is shown without money
        "tier": customer.tier if money else None,
        "annual_value": str(customer.annual_value) if money else None,
        "review_status": customer.review_status,
        "last_interaction_at": iso(customer.last_interaction_at),
        "last_purchase_at": iso(customer.last_purchase_at),
        "tags": sorted(tag.name for tag in customer.tags),
        "enrollments": enrollments_of(customer.id),
        "journeys": journeys_of(customer.id),
    })


def enrollment_dict(enrollment: Enrollment) -> dict:
    return {
        "sop": enrollment.sop.key,
        "status": enrollment.status,
        "flowed_from": enrollment.flowed_from.key if enrollment.flowed_from else None,
        "enrolled_at": iso(enrollment.enrolled_at),
        "ended_at": iso(enrollment.ended_at),
        "end_reason": enrollment.end_reason,
        "flow_result": enrollment.flow_result,
    }


def enrollments_of(customer_id: int) -> list[dict]:
    rows = db.session.scalars(
        select(Enrollment).where(Enrollment.customer_id == customer_id)
        .options(joinedload(Enrollment.sop), joinedload(Enrollment.flowed_from))
        .order_by(Enrollment.enrolled_at, Enrollment.id))
    return [enrollment_dict(e) for e in rows]


def journeys_of(customer_id: int) -> list[dict]:
    """The customer's current stage in each journey (open placements only)."""
    rows = db.session.execute(
        select(Journey.key, JourneyStage.key, JourneyPlacement.entered_at)
        .join(Journey, Journey.id == JourneyPlacement.journey_id)
        .join(JourneyStage, JourneyStage.id == JourneyPlacement.stage_id)
        .where(JourneyPlacement.customer_id == customer_id, JourneyPlacement.left_at.is_(None))
        .order_by(Journey.key)).all()
    return [{"journey": journey, "stage": stage, "entered_at": iso(entered_at)}
            for journey, stage, entered_at in rows]
