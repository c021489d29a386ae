"""Checks of a manual group send (SPEC §10) as the API and the compose form give it.

Pure: what exists comes in as `Known`; the problems carry their field path, so the
API lists them and the form puts each on its field.
"""
from __future__ import annotations

from jobs.core import vocab as V
from jobs.core.checker import Checker, Known, Problem
from jobs.core.rules_sop import TARGET_KEYS, check_attachments, check_condition_set

GROUP_SEND_KEYS = ("key", "text", "attachments", "target", "at", "priority", "batch", "senders")
BATCH_KEYS = ("size", "interval_minutes")
PRIORITY_RANGE = (-1000, 1000)


def check_group_send(data, known: Known) -> list[Problem]:
    c = Checker(known)
    if not c.mapping(data, "", GROUP_SEND_KEYS):
        return c.problems
    c.key(data, "key", "")
    c.text(data, "text", "", required=True)
    check_attachments(c, data, "")
    check_condition_set(c, data.get("target"), "target", TARGET_KEYS)
    c.integer(data, "priority", "", *PRIORITY_RANGE)
    batch = data.get("batch")
    if batch is not None and c.mapping(batch, "batch", BATCH_KEYS):
        c.integer(batch, "size", "batch", 1, V.MAX_BATCH_SIZE)
        c.integer(batch, "interval_minutes", "batch", 0, 24 * 60)
    if data.get("senders") is not None:
        c.names(data["senders"], "senders", known.employees, "employee")
    return c.problems
