"""Config as code, outward: the database in its YAML document shape (SPEC §8)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from config_io.calendar import calendar_to_dict
from jobs.core import vocab as V
from jobs.core.config_rules import Known, as_list
from models import (
    Department, Employee, Journey, JourneyRule, Material, Segment, Settings, Sop, SopStep,
    Tag,
)

TARGET_JSON_KEYS = ("sources", "tags_any", "tags_all", "tags_none", "segment", "stages",
                    "churn_status")
LIST_KEYS = ("stages", "churn_status")  # scalars allowed in YAML, stored as lists


def compact(d: dict) -> dict:
    """Drop empty values so exports stay short and stable."""
    return {k: v for k, v in d.items() if v not in (None, [], {}, "")}


# --- reading the database -------------------------------------------------------
def known_from_db(session: Session) -> Known:
    def names(column):
        return set(session.scalars(select(column)))

    sops = session.scalars(select(Sop)).all()
    return Known(
        tags=names(Tag.name),
        materials=names(Material.key),
        employees=names(Employee.userid),
        departments=names(Department.name),
        segments=names(Segment.key),
        stages=tuple(Settings.get(session).lifecycle_stages or ()),
        sop_kinds={s.key: s.kind for s in sops},
        sop_locks={s.key: {"status": s.status, "kind": s.kind,
                           "target": sop_to_dict(s)["target"]} for s in sops},
        enabled_journeys=set(session.scalars(select(Journey.key).where(Journey.enabled))),
        syncing_journeys={j.key: journey_to_dict(j) for j in session.scalars(
            select(Journey).where(Journey.sync_started_at.is_not(None)))},
    )


def normalise_condition(cond: dict | None, keys=TARGET_JSON_KEYS) -> dict:
    """A condition set as stored: empty keys dropped, stage/churn lists."""
    out = {}
    for key in keys:
        value = (cond or {}).get(key)
        if key in LIST_KEYS:
            value = as_list(value)
        out[key] = value
    return compact(out)


def step_to_dict(step: SopStep) -> dict:
    d = {"key": step.key, "day": step.day, "at": step.at_time, "action": step.action}
    if step.action == "message":
        d.update(text=step.text, attachments=[m.key for m in step.attachments],
                 variants=[compact(dict(v)) for v in step.variants or []])
    elif step.action == "task":
        d.update(title=step.task_title, text=step.text, assignee=step.task_assignee,
                 deadline_hours=step.task_deadline_hours)
    elif step.action == "tag":
        d.update(add_tags=list(step.add_tags or []), remove_tags=list(step.remove_tags or []))
    elif step.action == "stage":
        d.update(stage=step.stage)
    return compact(d) | {"day": step.day}  # day 0 is a value, not an empty one


def sop_to_dict(sop: Sop) -> dict:
    target = normalise_condition(sop.target)
    target.update(compact({"members": [e.userid for e in sop.members],
                           "departments": [d.name for d in sop.departments]}))
    early = compact({
        "when": normalise_condition(sop.early_end_when),
        "add_tags": list(sop.early_end_add_tags or []),
        "flow_to": sop.early_end_flow_to.key if sop.early_end_flow_to else None,
    })
    normal = compact({
        "add_tags": list(sop.normal_end_add_tags or []),
        "flow_to": sop.normal_end_flow_to.key if sop.normal_end_flow_to else None,
    })
    d = {
        "key": sop.key, "name": sop.name, "kind": sop.kind, "description": sop.description,
        # an SOP starting (its first evaluation pending) is a running one in config terms
        "status": "running" if sop.status == "initializing" else sop.status,
        "priority": sop.priority, "trigger": sop.trigger_event,
        "target": target,
        "entry_window_hours": sop.entry_window_hours,
        "batch": {"size": sop.batch_size, "interval_minutes": sop.batch_interval_minutes},
        "conversion_days": sop.conversion_days,
        "holdout_percent": sop.holdout_percent,
        "steps": [step_to_dict(s) for s in sop.steps],
        "early_end": early, "normal_end": normal,
    }
    return {k: v for k, v in d.items() if v is not None and not (k == "description" and not v)}


def rule_to_yaml(rule: JourneyRule):
    conds = []
    for c in rule.conditions:
        if c.kind == "tags_any":
            conds.append({"tags_any": list(c.tags or [])})
        else:
            conds.append({c.kind: c.value})
    return conds[0] if len(conds) == 1 else {"all": conds}


def journey_to_dict(journey: Journey) -> dict:
    stages = []
    for st in journey.stages:
        reminders = [compact({"day": r.day, "hour": r.hour, "kind": r.kind, "text": r.text,
                              "attachments": [m.key for m in r.attachments]})
                     | {"day": r.day, "hour": r.hour} for r in st.reminders]
        stages.append(compact({"key": st.key, "name": st.name, "description": st.description,
                               "rules": [rule_to_yaml(r) for r in st.rules],
                               "reminders": reminders}))
    return compact({
        "key": journey.key, "name": journey.name, "description": journey.description,
        "enabled": bool(journey.enabled), "automation": bool(journey.automation),
        "stage_reminders": bool(journey.stage_reminders),
        "followup_reminders": bool(journey.followup_reminders),
        "stages": stages,
    }) | {"enabled": bool(journey.enabled), "automation": bool(journey.automation),
          "stage_reminders": bool(journey.stage_reminders),
          "followup_reminders": bool(journey.followup_reminders)}


def settings_to_dict(s: Settings) -> dict:
    """Secrets (WeCom secret, callback token, AES key) are never exported."""
    quota = compact({"limit": s.quota_limit, "period": s.quota_period,
                     "daily_budget": s.daily_budget, "max_lateness_days": s.max_lateness_days})
    return compact({
        "timezone": s.timezone, "quota": quota, "channel": s.channel,
        "webhook_url": s.webhook_url,
        "wecom": compact({"corp_id": s.wecom_corp_id, "api_base_url": s.wecom_api_base_url,
                          "welcome_message": s.welcome_message}),
        "lifecycle_stages": list(s.lifecycle_stages or []),
        "tiers": {"high": s.tier_high_threshold, "potential": s.tier_potential_threshold},
        "crm": compact({name: getattr(s, name)
                        for name in (*V.CRM_SETTINGS, *V.CRM_TEXT_SETTINGS)}),
    })


def material_to_dict(m: Material) -> dict:
    return compact({"key": m.key, "kind": m.kind, "title": m.title, "url": m.url,
                    "content": m.content, "file": m.file_path})


def export_document(session: Session) -> dict:
    employees = session.scalars(select(Employee).order_by(Employee.userid)).all()
    settings = settings_to_dict(Settings.get(session)) | compact(
        {"calendar": calendar_to_dict(session)})
    return {
        "settings": settings,
        "employees": [compact({"userid": e.userid, "name": e.name,
                               "department": e.department.name if e.department else None,
                               "role": e.role}) | {"active": bool(e.active)}
                      for e in employees],
        "tags": [compact({"name": t.name, "group": t.group_name})
                 for t in session.scalars(select(Tag).order_by(Tag.name))],
        "materials": [material_to_dict(m)
                      for m in session.scalars(select(Material).order_by(Material.key))],
        "segments": [{"key": s.key, "name": s.name, "filter": dict(s.filter or {})}
                     for s in session.scalars(select(Segment).order_by(Segment.key))],
        "sops": [sop_to_dict(s) for s in session.scalars(select(Sop).order_by(Sop.key))],
        "journeys": [journey_to_dict(j)
                     for j in session.scalars(select(Journey).order_by(Journey.key))],
    }
