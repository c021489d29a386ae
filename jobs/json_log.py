"""Logs as JSON lines when `LOG_FORMAT=json`: one per web request, one per RQ job.

A line is one JSON object with `ts`, `level`, `logger`, `msg` and the fields the
caller passed in `extra={"fields": {...}}`; log shippers read it without a
parser of their own. Without `LOG_FORMAT=json` nothing changes.
"""
from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime, timezone

REQUEST_LOGGER = "sop.request"
JOB_LOGGER = "sop.job"


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"ts": datetime.fromtimestamp(record.created, timezone.utc)
                .isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "logger": record.name,
                "msg": record.getMessage(), **getattr(record, "fields", {})}
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def json_enabled() -> bool:
    return os.environ.get("LOG_FORMAT", "").lower() == "json"


def configure(stream=None) -> bool:
    """Route the product's loggers through one JSON handler (once per process)."""
    if not json_enabled():
        return False
    root = logging.getLogger("sop")
    if not any(isinstance(h.formatter, JsonLines) for h in root.handlers):
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(JsonLines())
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False
    return True


def log_job(job, seconds: float, outcome: str) -> None:
    """One line per RQ job: id, function, duration, outcome (finished/failed/...)."""
    logging.getLogger(JOB_LOGGER).info("job %s", outcome, extra={"fields": {
        "job_id": job.id, "function": job.func_name, "origin": job.origin,
        "duration_ms": round(seconds * 1000, 1), "outcome": outcome}})
