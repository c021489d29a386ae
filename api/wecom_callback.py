"""`/wecom/callback`: where WeCom calls us (SPEC §9). No login and no CSRF token:
the signature is the security. Answers are plain text, within WeCom's 5 s: the
slow part (externalcontact/get, the tag catalogue) runs in jobs enqueued after
the commit; only the welcome message is sent inline (its code lives 20 s), with a
short HTTP timeout.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from jobs import wecom_callbacks as service
from models import db
from models.audit import acting_as
from models.base import utcnow

wecom_bp = Blueprint("wecom", __name__, url_prefix="/wecom")


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status, content_type="text/plain; charset=utf-8")


def _refused(exc: service.Refused) -> Response:
    service.log.warning("WeCom callback refused from %s: %s", request.remote_addr, exc)
    db.session.rollback()
    return _text("refused", 403)


@wecom_bp.get("/callback")
def verify():
    try:
        return _text(service.verify_url(db.session, request.args, utcnow()))
    except service.Refused as exc:
        return _refused(exc)


@wecom_bp.post("/callback")
def callback():
    from jobs import wecom_jobs

    app = current_app._get_current_object()
    try:
        with acting_as("wecom"):
            received = service.receive(db.session, request.args, request.get_data(), utcnow())
            if received.welcome:
                outcome = wecom_jobs.send_welcome(app, *received.welcome)
                service.record_welcome(db.session, received.callback_id, outcome)
    except service.Refused as exc:
        return _refused(exc)
    if received.needs_sync:
        wecom_jobs.enqueue_contact_sync(app, received.callback_id)
    if received.needs_tag_sync:
        wecom_jobs.enqueue_tag_catalogue(app)
    return _text("success")
