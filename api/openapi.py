"""The OpenAPI 3.1 description of /api/v1, kept beside the routes it describes.

`DESCRIBED` says, per (method, path), what an operation takes and answers; the served
document (`GET /api/v1/openapi.json`) lists the operations whose route is actually
registered, so it never promises what this build lacks. tests/test_openapi.py keeps every registered route described.
"""
from __future__ import annotations

import re

from flask import current_app

from jobs.core.vocab import DELIVERY_STATUSES, ENROLLMENT_STATUSES, TASK_STATUSES

PREFIX = "/api/v1"
BEARER = [{"bearer": []}]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _param(name: str, where: str = "query", kind: str = "string", text: str = "",
           required: bool = False, **schema) -> dict:
    return {"name": name, "in": where, "required": required or where == "path",
            "description": text, "schema": {"type": kind, **schema}}


def _json(schema: dict, text: str = "OK") -> dict:
    return {"description": text, "content": {"application/json": {"schema": schema}}}


def _body(properties: dict, required: tuple = ()) -> dict:
    return {"required": bool(required), "content": {"application/json": {"schema": {
        "type": "object", "properties": properties, "required": list(required),
        "additionalProperties": False}}}}


def _op(tag: str, summary: str, answer: dict | None = None, params=(), body=None,
        status: str = "200", text: str = "") -> dict:
    op = {"tags": [tag], "summary": summary, "description": text, "parameters": list(params),
          "responses": {status: _json(answer or {"type": "object"}),
                        "4XX": _json(_ref("Error"), "Refused; nothing changed")}}
    if body is not None:
        op["requestBody"] = body
    return op


AT = {"at": {"type": "string", "format": "date-time",
             "description": "As of this time (ISO 8601 with an offset); default now"}}
AT_QUERY = _param("at", text="As of this time (ISO 8601 with an offset); default now",
                  format="date-time")
PAGE = (_param("limit", kind="integer", text="At most this many rows", minimum=1),
        _param("offset", kind="integer", text="Skip this many rows", minimum=0))
KEY = _param("key", "path", text="The SOP's key")
EXTERNAL_ID = _param("external_id", "path", text="WeCom external_userid")
GROUP_SEND_KEY = _param("key", "path", text="The group send's key")
MOVE_TEXT = "A state change; `at` in the body, default now. A move the SOP's status " \
            "does not allow answers 409."

SCHEMAS = {
    "Error": {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string"}, "detail": {}}},
    "Event": {"type": "object", "required": ["type", "external_id"], "properties": {
        "type": {"type": "string", "enum": ["customer_added", "customer_updated",
                                            "owner_changed", "customer_lost", "tag_added",
                                            "tag_removed", "stage_changed", "order_placed"]},
        "external_id": {"type": "string"}, "id": {"type": "string"},
        "at": {"type": "string", "format": "date-time"}}, "additionalProperties": True},
    "Delivery": {"type": "object", "properties": {
        "id": {"type": "integer"}, "sop": {"type": ["string", "null"]},
        "journey": {"type": ["string", "null"]}, "stage": {"type": ["string", "null"]},
        "group_send": {"type": ["string", "null"]},
        "step": {"type": "integer"}, "step_key": {"type": ["string", "null"]},
        "action": {"type": "string"}, "variant": {"type": ["string", "null"]},
        "customer": {"type": "string"}, "sender": {"type": ["string", "null"]},
        "due_at": {"type": "string", "format": "date-time"},
        "status": {"type": "string", "enum": list(DELIVERY_STATUSES)},
        "sent_at": {"type": ["string", "null"], "format": "date-time"},
        "reason": {"type": ["string", "null"]}}},
    "Task": {"type": "object", "properties": {
        "id": {"type": "integer"}, "kind": {"type": "string"},
        "employee": {"type": ["string", "null"]},
        "customers": {"type": "array", "items": {"type": "string"}},
        "title": {"type": "string"}, "text": {"type": ["string", "null"]},
        "due_at": {"type": "string", "format": "date-time"},
        "status": {"type": "string", "enum": list(TASK_STATUSES)}}},
    "SopStatus": {"type": "object", "properties": {
        "key": {"type": "string"}, "name": {"type": "string"}, "kind": {"type": "string"},
        "status": {"type": "string"}, "priority": {"type": "integer"},
        "version": {"type": "integer"},
        "enrollments": {"type": "object", "additionalProperties": {"type": "integer"}}}},
    "Customer": {"type": "object", "properties": {
        "external_id": {"type": "string"}, "name": {"type": "string"},
        "owner": {"type": ["string", "null"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "enrollments": {"type": "array", "items": {"type": "object", "properties": {
            "sop": {"type": "string"}, "status": {"type": "string",
                                                  "enum": list(ENROLLMENT_STATUSES)},
            "flowed_from": {"type": ["string", "null"]},
            "enrolled_at": {"type": "string", "format": "date-time"}}}},
        "journeys": {"type": "array", "items": {"type": "object"}}}},
    "VariantStats": {"type": "object", "properties": {
        "step": {"type": "integer"}, "label": {"type": "string"}, "days": {"type": "integer"},
        "leader": {"type": ["string", "null"]},
        "variants": {"type": "array", "items": {"type": "object", "properties": {
            "variant": {"type": "string"}, "sent": {"type": "integer"},
            "customers": {"type": "integer"}, "converted": {"type": "integer"},
            "rate": {"type": ["number", "null"]},
            "interval": {"type": ["array", "null"], "items": {"type": "number"}}}}},
        "differences": {"type": "array", "items": {"type": "object"}}}},
    "GroupSend": {"type": "object", "required": ["key", "text", "target"], "properties": {
        "key": {"type": "string"}, "text": {"type": "string"},
        "attachments": {"type": "array", "items": {"type": "string"}, "maxItems": 9},
        "target": {"type": "object", "description": "The keys of an SOP target"},
        "at": {"type": "string", "format": "date-time"}, "priority": {"type": "integer"},
        "batch": {"type": "object"}}},
}

DESCRIBED: dict[tuple[str, str], dict] = {
    ("get", "/whoami"): _op("Account", "Who the token belongs to"),
    ("get", "/openapi.json"): _op("Account", "This document (OpenAPI 3.1)"),
    ("post", "/events"): _op(
        "Events", "Post one customer event or a list", {"type": "object", "properties": {
            "accepted": {"type": "integer"}, "duplicates": {"type": "integer"}}},
        body={"required": True, "content": {"application/json": {"schema": {
            "oneOf": [_ref("Event"), {"type": "array", "items": _ref("Event")}]}}}},
        text="A repeated event `id` is accepted once."),
    ("get", "/customers/{external_id}"): _op(
        "Customers", "A customer with tags, owner, enrollments and journey stages",
        _ref("Customer"), [EXTERNAL_ID]),
    ("post", "/customers/{external_id}/review"): _op(
        "Customers", "Approve or reject a new customer record (managers)", None,
        [EXTERNAL_ID], _body({"decision": {"type": "string", "enum": ["approve", "reject"]},
                              "reason": {"type": "string"}, **AT}, ("decision",))),
    ("post", "/requests"): _op(
        "Customers", "Raise a customer request (需求任务) for an employee", None, (),
        _body({"customer": {"type": "string"}, "assignee": {"type": "string"},
               "title": {"type": "string"}, "text": {"type": "string"}, **AT},
              ("customer", "assignee", "title")), "201"),
    ("get", "/deliveries"): _op(
        "Deliveries", "Deliveries by due time", {"type": "array", "items": _ref("Delivery")},
        [_param("customer", text="A customer's external id"),
         _param("sop", text="An SOP's key"),
         _param("group_send", text="A group send's key"),
         _param("status", enum=list(DELIVERY_STATUSES)), *PAGE]),
    ("get", "/tasks"): _op(
        "Tasks", "Inbox items", {"type": "array", "items": _ref("Task")},
        [_param("employee", text="An employee's userid"),
         _param("status", enum=list(TASK_STATUSES)), *PAGE]),
    ("post", "/tasks/{task_id}/done"): _op(
        "Tasks", "Mark a task done (a send task's deliveries become sent)", None,
        [_param("task_id", "path", "integer")], _body(AT)),
    ("get", "/sops"): _op("SOPs", "Every SOP with its status and enrollment counts",
                          {"type": "array", "items": _ref("SopStatus")}),
    ("get", "/sops/{key}"): _op("SOPs", "One SOP as config as code, with its status",
                                None, [KEY]),
    ("get", "/sops/{key}/stats"): _op(
        "SOPs", "The data page's figures: totals, funnel, sends, conversion, A/B variants",
        {"type": "object", "properties": {
            "variants": {"type": "array", "items": _ref("VariantStats")}}}, [KEY, AT_QUERY]),
    ("get", "/sops/{key}/preview"): _op(
        "SOPs", "Dry run: who would enter now and the send calendar", None,
        [KEY, _param("days", kind="integer", minimum=1), AT_QUERY]),
    ("post", "/sops/{key}/customers/{external_id}/end"): _op(
        "SOPs", "Manual end of one customer's enrollment", None, [KEY, EXTERNAL_ID],
        _body({"add_tags": {"type": "array", "items": {"type": "string"}},
               "flow_to": {"type": "string"}, **AT})),
    ("post", "/sops/{key}/customers/{external_id}/enroll"): _op(
        "SOPs", "Add one customer by hand (or start a playbook for them)", None,
        [KEY, EXTERNAL_ID], _body(AT)),
    **{("post", f"/sops/{{key}}/{move}"): _op("SOPs", f"{move.title()} the SOP",
                                              _ref("SopStatus"), [KEY], _body(AT), text=MOVE_TEXT)
       for move in ("start", "pause", "resume", "end")},
    ("post", "/group_sends"): _op(
        "Group sends", "Compose a one-off group send (客户群发); idempotent by key",
        {"type": "object", "properties": {k: {"type": "integer"} for k in (
            "id", "matched", "today", "deferred", "no_owner")} | {"key": {"type": "string"}}},
        (), {"required": True, "content": {"application/json": {"schema": _ref("GroupSend")}}},
        "201", "A second POST with the same key changes nothing and answers the same."),
    ("get", "/group_sends/{key}"): _op(
        "Group sends", "A group send with its deliveries counted per status", None,
        [GROUP_SEND_KEY]),
    ("post", "/group_sends/{key}/cancel"): _op(
        "Group sends", "Cancel what is not handed over yet; its quota is given back",
        {"type": "object", "properties": {"key": {"type": "string"},
                                          "cancelled": {"type": "integer"}}},
        [GROUP_SEND_KEY], _body(AT),
        text="A manager cancels only the group sends they made. Again: cancelled 0."),
}


def path_of(rule: str) -> str:
    """A werkzeug rule under the prefix as an OpenAPI path: <int:task_id> -> {task_id}."""
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule[len(PREFIX):])


def registered(app) -> set[tuple[str, str]]:
    """(method, path) of every /api/v1 route of this app."""
    return {(method.lower(), path_of(rule.rule)) for rule in app.url_map.iter_rules()
            if rule.rule.startswith(PREFIX + "/") and rule.endpoint.startswith("api.")
            and rule.endpoint != "api.static"
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def document(app=None) -> dict:
    app = app or current_app
    paths: dict[str, dict] = {}
    for method, path in sorted(registered(app) & set(DESCRIBED)):
        paths.setdefault(path, {})[method] = DESCRIBED[(method, path)]
    return {
        "openapi": "3.1.0",
        "info": {"title": "Customer SOP engine API", "version": "1",
                 "description": "JSON in and out; `Authorization: Bearer <token>` "
                                "(`flask users token NAME`). Errors are "
                                "`{\"error\", \"detail\"}` with a 4xx status and change "
                                "nothing."},
        "servers": [{"url": PREFIX}],
        "security": BEARER,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": SCHEMAS},
        "paths": paths,
    }
