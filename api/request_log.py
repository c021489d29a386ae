"""Request ids on every answer, and one JSON log line per request with `LOG_FORMAT=json`.

An incoming `X-Request-ID` (from a proxy or a caller) is kept when it looks like
an id, else one is made; either way the answer carries it back, so a caller's
report and the log line meet.
"""
from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, g, request

from jobs import json_log

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id() -> str:
    given = request.headers.get("X-Request-ID", "")
    return given if REQUEST_ID.match(given) else uuid.uuid4().hex


def install_request_log(app: Flask) -> None:
    enabled = json_log.configure()
    logger = logging.getLogger(json_log.REQUEST_LOGGER)

    @app.before_request
    def start_request():
        g.request_id = request_id()
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response):
        rid = g.get("request_id") or request_id()
        response.headers["X-Request-ID"] = rid
        if enabled:
            started = g.get("request_started") or time.perf_counter()
            logger.info("%s %s %s", request.method, request.path, response.status_code,
                        extra={"fields": {
                            "request_id": rid, "method": request.method,
                            "path": request.path, "status": response.status_code,
                            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                            "remote": request.remote_addr}})
        return response
