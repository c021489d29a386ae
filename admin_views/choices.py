"""What several screens share: who may do what, the labels of stored codes, the
choices read from the database when a form is shown, and the local time zone."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app, has_request_context, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from jobs.core import vocab as V
from models import Settings, Tag, db

# --- role groups (SPEC §7) ----------------------------------------------------------
CONFIG_ROLES = ("admin", "ops")  # SOPs, journeys, tags, segments, materials
CUSTOMER_ROLES = ("admin", "ops", "manager", "sales", "service")  # open the customer list
TAG_ROLES = ("admin", "ops", "manager", "sales")  # tag customers by hand
MONEY_ROLES = ("admin", "ops", "manager", "sales")  # see annual value and tier (not service)

# --- labels of stored codes ---------------------------------------------------------
ROLE_LABELS = {"admin": _l("Administrator"), "ops": _l("Operations"), "manager": _l("Manager"),
               "sales": _l("Sales"), "service": _l("Customer service"),
               "finance": _l("Finance")}
CHURN_LABELS = {"normal": _l("Normal"), "lost": _l("Lost"), "dormant": _l("Dormant")}
KIND_LABELS = {"new_customer": _l("New customer SOP"), "nurture": _l("Nurture SOP"),
               "playbook": _l("Playbook SOP")}
STATUS_LABELS = {"draft": _l("Draft"), "initializing": _l("Initializing"),
                 "running": _l("Running"), "paused": _l("Paused"), "ended": _l("Ended")}
METHOD_LABELS = {"phone": _l("Phone"), "visit": _l("Visit"),
                 "online_meeting": _l("Online meeting"), "wecom": _l("WeCom"),
                 "email": _l("Email")}
OUTCOME_LABELS = {"none": _l("No change"), "opportunity": _l("Opportunity"),
                  "nurture": _l("To nurture"), "lost": _l("Lost")}
TIER_LABELS = {"high": _l("High"), "potential": _l("Potential"), "normal": _l("Normal")}
ACTION_LABELS = {"message": _l("Message"), "task": _l("Task"), "tag": _l("Tags"),
                 "stage": _l("Lifecycle stage")}
EVENT_LABELS = {"customer_added": _l("Customer added"), "customer_updated": _l("Customer updated"),
                "owner_changed": _l("Owner changed"), "customer_lost": _l("Customer lost"),
                "tag_added": _l("Tag added"), "tag_removed": _l("Tag removed"),
                "stage_changed": _l("Stage changed"), "order_placed": _l("Order placed"),
                "followup_logged": _l("Follow-up logged")}
PERIOD_LABELS = {"day": _l("day"), "week": _l("week"), "month": _l("month")}
CHANNEL_LABELS = {"task": _l("Inbox task"), "wecom": _l("WeCom"), "webhook": _l("Webhook")}
# the audit log's action and object type (the model's class name)
AUDIT_ACTION_LABELS = {"create": _l("create"), "update": _l("update"), "delete": _l("delete")}
OBJECT_LABELS = {
    "Sop": _l("SOP"), "SopStep": _l("SOP step"), "Material": _l("Material item"),
    "Settings": _l("Settings"), "Department": _l("Department"), "Employee": _l("Employee"),
    "User": _l("Login account"), "ApiToken": _l("API token"), "Journey": _l("Journey"),
    "JourneyStage": _l("Journey stage"), "JourneyRule": _l("Stage rule"),
    "JourneyCondition": _l("Rule condition"), "JourneyReminder": _l("Stage reminder"),
    "Tag": _l("Tag"), "Customer": _l("Customer"), "Segment": _l("Segment"),
    "Order": _l("Customer order"), "FollowUp": _l("Follow-up record"), "Task": _l("Task"),
}


def labelled(labels: dict):
    """A column formatter showing the label of the stored code (the code if unknown)."""
    return lambda view, context, model, name: labels.get(getattr(model, name),
                                                         getattr(model, name))


def step_caption(step) -> str:
    """A step as ops read it: "Day 15 10:00 Task" (第15天 10:00 任务), not its stored codes."""
    return str(_l("Day %(day)s %(at)s %(action)s", day=step.day, at=step.at_time,
                  action=ACTION_LABELS.get(step.action, step.action)))


STEP_SUMMARY = re.compile(r"day (?P<day>\d+) (?P<at>\d\d:\d\d) (?P<action>\w+)$")


def audit_summary(object_type: str, summary: str | None) -> str:
    """An audit row's object as stored, but an SOP step ("day 1 10:00 message", its
    str() when written) by its caption ("第1天 10:00 发消息")."""
    found = STEP_SUMMARY.match(summary or "") if object_type == "SopStep" else None
    if found is None:
        return summary or ""
    return str(_l("Day %(day)s %(at)s %(action)s", day=found["day"], at=found["at"],
                  action=ACTION_LABELS.get(found["action"], found["action"])))


# --- choices read when a form or filter is shown -------------------------------------
def tag_names() -> list[str]:
    return list(db.session.scalars(select(Tag.name).order_by(Tag.name)))


def lifecycle_stages() -> list[str]:
    return [str(s) for s in Settings.get(db.session).lifecycle_stages or ()]


def churn_choices() -> list[tuple[str, str]]:
    return [(s, CHURN_LABELS[s]) for s in V.CHURN_STATUSES]


# --- time ----------------------------------------------------------------------------
def local_zone() -> ZoneInfo:
    """The enterprise time zone (settings, else the app's SOP_TIMEZONE), read once per
    request: a list formats dozens of times per page (without a settings row, each
    would be a query)."""
    cached = getattr(request, "sop_zone", None) if has_request_context() else None
    if cached is not None:
        return cached
    row = db.session.get(Settings, 1)
    zone = ZoneInfo(row.timezone if row else current_app.config["SOP_TIMEZONE"])
    if has_request_context():
        request.sop_zone = zone  # on the request, not `g`: tests keep one app context
    return zone


def local_minutes(view, value: datetime, name=None) -> str:
    """A stored time as `YYYY-MM-DD HH:MM` in the enterprise zone (a type formatter)."""
    if value.tzinfo is None:  # the models store UTC
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M")
