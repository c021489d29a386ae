"""Blueprint, bearer-token authentication and JSON error handling."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, g, jsonify, request
from flask_login import current_user
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from models import ApiToken, db
from models.audit import set_actor
from models.base import utcnow
from models.org import hash_token

# static: the OpenAPI page's own script and style (served by the app, no CDN)
api_bp = Blueprint("api", __name__, url_prefix="/api/v1", static_folder="static")
OPEN_TO_SESSIONS = ("api.openapi_json",)  # also read by a signed-in admin page


class ApiError(Exception):
    """Raised by endpoints: becomes {"error", "detail"} with a 4xx status."""

    def __init__(self, status: int, error: str, detail=None):
        super().__init__(error)
        self.status, self.error, self.detail = status, error, detail


@api_bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    db.session.rollback()
    return jsonify({"error": exc.error, "detail": exc.detail}), exc.status


@api_bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    db.session.rollback()
    return jsonify({"error": exc.name.lower().replace(" ", "_"),
                    "detail": exc.description}), exc.code


def error_pages(app, html_page) -> None:
    """403/404/405 answer JSON under /api/ (even for unknown URLs), `html_page` elsewhere."""

    def _error(exc: HTTPException):
        if request.path.startswith(api_bp.url_prefix + "/") or request.path == api_bp.url_prefix:
            return _http_error(exc)
        return html_page(exc)

    for code in (403, 404, 405):
        app.register_error_handler(code, _error)


@api_bp.before_request
def authenticate():
    if request.endpoint == "api.static":
        return None
    if request.endpoint in OPEN_TO_SESSIONS and current_user.is_authenticated:
        return None
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == hash_token(header[7:].strip())))
    if token is None or token.revoked or not token.user.active:
        raise ApiError(401, "unauthorized", "unknown or revoked token")
    g.api_user = token.user
    set_actor(f"api:{token.user.username}")


def roles_required(*roles: str):
    """Endpoint decorator: the token's user must have one of `roles` (admin always may)."""
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if g.api_user.role not in roles + ("admin",):
                raise ApiError(403, "forbidden", f"role {g.api_user.role} may not do this")
            return view(*args, **kwargs)
        return wrapper
    return decorate


@api_bp.get("/openapi.json")
def openapi_json():
    """The OpenAPI 3.1 document of this API (api/openapi.py)."""
    from api.openapi import document

    return jsonify(document())


@api_bp.get("/whoami")
def whoami():
    user = g.api_user
    return jsonify({"username": user.username, "role": user.role,
                    "employee": user.employee.userid if user.employee else None,
                    "at": utcnow().isoformat()})
