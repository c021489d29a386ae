"""`/healthz`, `/readyz` and `/metrics` (SPEC §10): for load balancers and Prometheus.

No login: a load balancer has none. `/healthz` touches nothing (the process is
alive); `/readyz` runs jobs.health.readiness; `/metrics` answers only addresses in
`METRICS_ALLOW` (default loopback) or a request bearing `METRICS_TOKEN`. A request
that came through a proxy (X-Forwarded-For) is never let in by its address: the
proxy's loopback address would make the metrics public.
"""
from __future__ import annotations

import hmac
import ipaddress
from datetime import datetime, timezone

from flask import Blueprint, abort, current_app, jsonify, request

health_bp = Blueprint("health", __name__)


@health_bp.route("/healthz")
def healthz():
    return jsonify(ok=True)


@health_bp.route("/readyz")
def readyz():
    from jobs.health import readiness
    from jobs.queues import redis_connection
    from models import db

    try:
        redis = redis_connection(current_app)
    except Exception:  # the embedded server could not start: report Redis as down
        redis = None
    report = readiness(db.session, redis if redis is not None else _Unreachable(),
                       datetime.now(timezone.utc))
    response = jsonify(report)
    response.status_code = 200 if report["ok"] else 503
    response.headers["Cache-Control"] = "no-store"
    return response


class _Unreachable:
    def __getattr__(self, name):
        raise ConnectionError("redis unavailable")


def allowed_networks(setting: str | None) -> list:
    return [ipaddress.ip_network(part.strip(), strict=False)
            for part in (setting or "").split(",") if part.strip()]


def metrics_allowed(req, allow: str | None, token: str | None) -> bool:
    if token:
        given = req.headers.get("Authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(
                given[len("Bearer "):].encode(), token.encode()):
            return True
    if req.headers.get("X-Forwarded-For") or not req.remote_addr:
        return False
    try:
        address = ipaddress.ip_address(req.remote_addr)
    except ValueError:  # a unix socket peer
        return False
    return any(address in net for net in allowed_networks(allow))


@health_bp.route("/metrics")
def metrics():
    from jobs.metrics import exposition
    from jobs.queues import redis_connection
    from models import db

    config = current_app.config
    if not metrics_allowed(request, config.get("METRICS_ALLOW"), config.get("METRICS_TOKEN")):
        abort(403)
    body, content_type = exposition(lambda: db.session, redis_connection(current_app))
    return current_app.response_class(body, content_type=content_type)
