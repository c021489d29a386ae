"""LOG_FORMAT=json: one JSON line per request and per RQ job."""
from __future__ import annotations

import io
import json
import logging

from jobs import json_log
from jobs.queues import MAINTENANCE_QUEUE, queue


def capture(logger_name: str) -> io.StringIO:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(json_log.JsonLines())
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return out


def test_a_job_line_has_id_function_duration_and_outcome(app):
    out = capture(json_log.JOB_LOGGER)
    q = queue(app, MAINTENANCE_QUEUE)
    q.empty()
    job = q.enqueue("jobs.maintenance.heartbeat")
    json_log.log_job(job, 0.25, "finished")
    line = json.loads(out.getvalue().splitlines()[-1])
    assert line["job_id"] == job.id and line["function"] == "jobs.maintenance.heartbeat"
    assert line["duration_ms"] == 250.0 and line["outcome"] == "finished"
    assert line["level"] == "info" and line["logger"] == "sop.job"
    q.empty()


def test_json_lines_format_request_fields():
    record = logging.LogRecord("sop.request", logging.INFO, __file__, 1, "GET / 200", (), None)
    record.fields = {"request_id": "r1", "status": 200, "path": "/x"}
    line = json.loads(json_log.JsonLines().format(record))
    assert line["request_id"] == "r1" and line["status"] == 200 and line["msg"] == "GET / 200"
