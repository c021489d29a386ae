"""Config as code, inward: validate a YAML-shaped document and apply it all or nothing.

`import_document` checks a document with the same rules as the admin forms
(`jobs.core.config_rules`) and applies it; `config_io.export` writes the
configuration out. Items are keyed (`key`; employees by `userid`, tags by name);
an item in the document is its whole definition.
"""
from __future__ import annotations

import difflib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs import lifecycle
from jobs.core.config_rules import Problem, parse_at, rule_conditions, validate_document
from jobs.core import vocab as V
from models import (
    Department, Employee, Journey, JourneyCondition, JourneyReminder, JourneyRule,
    JourneyStage, Material, Segment, Settings, Sop, SopStep, SopVersion, Tag,
)
from models.audit import current_actor
from models.base import utcnow
from config_io.calendar import apply_calendar
from config_io.export import (  # noqa: F401  (re-exported for callers of config_io)
    export_document, journey_to_dict, known_from_db, normalise_condition, rule_to_yaml,
    sop_to_dict,
)
from config_io.yaml_text import dump_yaml, load_yaml  # noqa: F401

# --- writing the database -------------------------------------------------------
def _by(session: Session, model, column, value):
    return session.scalar(select(model).where(column == value))


def _keyed(session: Session, column, value):
    """The row whose `column` is `value` (e.g. Sop.key), added to the session if new."""
    model = column.class_
    row = _by(session, model, column, value)
    if row is None:
        row = model(**{column.key: value})
        session.add(row)
    return row


def _department(session: Session, name: str | None) -> Department | None:
    if not name:
        return None
    return _keyed(session, Department.name, name)  # autoflush lets the next lookup find it


def _materials(session: Session, keys) -> list[Material]:
    keys = list(keys or [])
    if not keys:
        return []
    return list(session.scalars(select(Material).where(Material.key.in_(keys))))


def apply_settings(session: Session, d: dict) -> Settings:
    s = Settings.get(session)
    simple = {"timezone": "timezone", "channel": "channel", "webhook_url": "webhook_url",
              "lifecycle_stages": "lifecycle_stages"}
    for key, attr in simple.items():
        if key in d:
            setattr(s, attr, d[key])
    quota = d.get("quota") or {}
    for key, attr in (("limit", "quota_limit"), ("period", "quota_period"),
                      ("daily_budget", "daily_budget"),
                      ("max_lateness_days", "max_lateness_days")):
        if key in quota:
            setattr(s, attr, quota[key])
    tiers = d.get("tiers") or {}
    if "high" in tiers:
        s.tier_high_threshold = tiers["high"]
    if "potential" in tiers:
        s.tier_potential_threshold = tiers["potential"]
    crm = d.get("crm") or {}
    for name in (*V.CRM_SETTINGS, *V.CRM_TEXT_SETTINGS):
        if name in crm:
            setattr(s, name, crm[name] or None if name in V.CRM_TEXT_SETTINGS else crm[name])
    wecom = d.get("wecom") or {}
    for key, attr in (("corp_id", "wecom_corp_id"), ("secret", "wecom_secret"),
                      ("callback_token", "wecom_callback_token"),
                      ("callback_aes_key", "wecom_aes_key"),
                      ("api_base_url", "wecom_api_base_url"),
                      ("welcome_message", "welcome_message")):
        if key in wecom:
            setattr(s, attr, wecom[key])
    if d.get("calendar") is not None:
        apply_calendar(session, d["calendar"])
    return s


def given(d: dict, name: str, default):
    """The document's value, or the default when it is absent or null (YAML `x:` is null)."""
    value = d.get(name)
    return default if value is None else value


def apply_employee(session: Session, d: dict) -> Employee:
    emp = _keyed(session, Employee.userid, d["userid"])
    emp.name = d["name"]
    emp.department = _department(session, d.get("department"))
    emp.role = given(d, "role", "sales")
    emp.active = given(d, "active", True)
    return emp


def apply_tag(session: Session, d: dict) -> Tag:
    tag = _keyed(session, Tag.name, d["name"])
    tag.group_name = d.get("group")
    return tag


def apply_material(session: Session, d: dict) -> Material:
    m = _keyed(session, Material.key, d["key"])
    m.kind, m.title = d["kind"], d["title"]
    m.url, m.content, m.file_path = d.get("url"), d.get("content"), d.get("file")
    return m


def apply_segment(session: Session, d: dict) -> Segment:
    seg = _keyed(session, Segment.key, d["key"])
    seg.name, seg.filter = d["name"], dict(d.get("filter") or {})
    return seg


def make_room(session: Session, collection: list, final: list[tuple], keep: list) -> None:
    """Prepare `collection` for new positions without ever tripping UNIQUE(position).

    Rows not in `keep` are deleted first; rows whose position changes are parked on
    negative numbers. Rows that stay where they are are not touched (no audit noise).
    """
    removed = [row for row in collection if row not in keep]
    for row in removed:
        collection.remove(row)  # delete-orphan
    moving = [row for row, position in final if row.position is not None
              and row.position != position]
    for i, row in enumerate(moving):
        row.position = -(i + 1)
    if removed or moving:
        session.flush()


def match_unkeyed(rows: list[SopStep], wanted: list[dict]) -> dict[int, SopStep]:
    """Pair unkeyed document steps (by index) with unkeyed rows.

    Identical steps first, then steps at the same time, then the rest in order: removing
    or inserting one step leaves the other rows (and their deliveries) alone, and an
    edited step keeps its row.
    """
    def same(row, d):
        return (row.day, row.at_time, row.action, row.text) == (
            d["day"], parse_at(d["at"]), d["action"], d.get("text"))

    def same_time(row, d):
        return (row.day, row.at_time) == (d["day"], parse_at(d["at"]))

    free, pairs = list(rows), {}
    for fits in (same, same_time, lambda row, d: True):
        for i, d in enumerate(wanted):
            row = None if i in pairs else next((r for r in free if fits(r, d)), None)
            if row is not None:
                pairs[i] = row
                free.remove(row)
    return pairs


def apply_steps(session: Session, sop: Sop, steps: list[dict], now: datetime) -> None:
    """Update steps in place (ids survive: deliveries will point at them)."""
    ordered = sorted(steps, key=lambda s: (s["day"], parse_at(s["at"])))
    existing = list(sop.steps)
    by_key = {s.key: s for s in existing if s.key}
    unkeyed_docs = [d for d in ordered if not d.get("key")]
    pairs = match_unkeyed([s for s in existing if not s.key], unkeyed_docs)
    row_of = {id(d): pairs[i] for i, d in enumerate(unkeyed_docs) if i in pairs}
    plan = [(position, d, by_key.pop(d["key"], None) if d.get("key") else row_of.get(id(d)))
            for position, d in enumerate(ordered)]
    make_room(session, sop.steps, [(step, pos) for pos, _, step in plan if step],
              [step for _, _, step in plan if step])
    kept = []
    for position, d, step in plan:
        if step is None:
            step = SopStep(sop=sop, added_at=now if sop.started_at else None)
            session.add(step)
        step.position, step.key = position, d.get("key")
        step.day, step.at_time, step.action = d["day"], parse_at(d["at"]), d["action"]
        step.text = d.get("text")
        step.task_title = d.get("title")
        step.task_assignee = d.get("assignee") if d["action"] == "task" else None
        step.task_deadline_hours = d.get("deadline_hours")
        step.add_tags = list(d.get("add_tags") or [])
        step.remove_tags = list(d.get("remove_tags") or [])
        step.stage = d.get("stage")
        step.variants = variants_of(d) if d["action"] == "message" else None
        step.attachments = _materials(session, d.get("attachments"))
        kept.append(step)
    sop.steps = kept  # delete-orphan removes the rest (the engine cancels their sends)


def variants_of(d: dict) -> list[dict] | None:
    """A step's variants as stored: every field present, the weight 1 by default."""
    if not d.get("variants"):
        return None
    return [{"key": v["key"], "text": v["text"], "attachments": list(v.get("attachments") or []),
             "weight": v.get("weight") or 1} for v in d["variants"]]


def apply_sop(session: Session, d: dict, now: datetime) -> Sop:
    """Create or update one SOP from its document shape (flows resolved separately)."""
    sop = _keyed(session, Sop.key, d["key"])
    sop.name, sop.kind = d["name"], d["kind"]
    sop.description = d.get("description")
    sop.status = sop.status or "draft"  # moved by the engine's lifecycle, after the steps
    sop.priority = given(d, "priority", 0)
    sop.trigger_event = d.get("trigger")
    target = d.get("target") or {}
    sop.target = normalise_condition(target)
    sop.members = list(session.scalars(
        select(Employee).where(Employee.userid.in_(target.get("members") or []))))
    sop.departments = list(session.scalars(
        select(Department).where(Department.name.in_(target.get("departments") or []))))
    sop.entry_window_hours = given(d, "entry_window_hours", 24)
    batch = d.get("batch") or {}
    sop.batch_size = given(batch, "size", 200)
    sop.batch_interval_minutes = given(batch, "interval_minutes", 10)
    sop.conversion_days = given(d, "conversion_days", 30)
    sop.holdout_percent = given(d, "holdout_percent", 0)
    early, normal = d.get("early_end") or {}, d.get("normal_end") or {}
    sop.early_end_when = normalise_condition(early.get("when"))
    sop.early_end_add_tags = list(early.get("add_tags") or [])
    sop.normal_end_add_tags = list(normal.get("add_tags") or [])
    session.flush()
    apply_steps(session, sop, d.get("steps") or [], now)
    return sop


def apply_flows(session: Session, sop: Sop, d: dict) -> None:
    def target(key):
        return _by(session, Sop, Sop.key, key) if key else None

    sop.early_end_flow_to = target((d.get("early_end") or {}).get("flow_to"))
    sop.normal_end_flow_to = target((d.get("normal_end") or {}).get("flow_to"))


def condition_rows(rule) -> list[JourneyCondition]:
    rows = []
    for i, cond in enumerate(rule_conditions(rule)):
        kind, value = next(iter(cond.items()))
        rows.append(JourneyCondition(position=i, kind=kind,
                                     tags=list(value) if kind == "tags_any" else [],
                                     value=None if kind == "tags_any" else value))
    return rows


def apply_journey(session: Session, d: dict) -> Journey:
    j = _keyed(session, Journey.key, d["key"])
    j.name, j.description = d["name"], d.get("description")
    for flag, default in (("enabled", False), ("automation", True), ("stage_reminders", True),
                          ("followup_reminders", True)):
        setattr(j, flag, given(d, flag, default))
    session.flush()
    existing = {st.key: st for st in j.stages}
    wanted = d.get("stages") or []
    kept = [existing[sd["key"]] for sd in wanted if sd["key"] in existing]
    make_room(session, j.stages,
              [(existing[sd["key"]], i) for i, sd in enumerate(wanted) if sd["key"] in existing],
              kept)
    stages = []
    for position, sd in enumerate(wanted):
        st = existing.get(sd["key"])
        if st is None:
            st = JourneyStage(journey=j, key=sd["key"])
            session.add(st)
        st.position, st.name, st.description = position, sd["name"], sd.get("description")
        apply_rules(session, st, sd.get("rules") or [])
        apply_reminders(session, st, sd.get("reminders") or [])
        stages.append(st)
    j.stages = stages
    return j


def apply_rules(session: Session, stage: JourneyStage, rules: list) -> None:
    """Rules have no identity of their own: rebuilt when (and only when) they differ."""
    if [rule_to_yaml(r) for r in stage.rules] == rules:
        return
    if stage.rules:
        stage.rules = []  # old rows go before new ones arrive (UNIQUE position)
        session.flush()
    stage.rules = [JourneyRule(position=i, conditions=condition_rows(r))
                   for i, r in enumerate(rules)]


def apply_reminders(session: Session, stage: JourneyStage, wanted: list[dict]) -> None:
    """Reminders are updated in place by position (their deliveries point at them)."""
    old = list(stage.reminders)
    make_room(session, stage.reminders, [], old[:len(wanted)])
    reminders = []
    for i, rd in enumerate(wanted):
        r = old[i] if i < len(old) else JourneyReminder(stage=stage)
        session.add(r)
        r.position, r.day, r.hour = i, rd["day"], rd["hour"]
        r.kind, r.text = rd.get("kind", "stage"), rd["text"]
        r.attachments = _materials(session, rd.get("attachments"))
        reminders.append(r)
    stage.reminders = reminders


def move_status(session: Session, sop: Sop, wanted: str | None, now: datetime) -> None:
    """Go to `wanted` the way the admin buttons do: running from draft means started."""
    if wanted is None or wanted == sop.status or (
            wanted == "running" and sop.status == "initializing"):
        return
    if wanted == "paused" and sop.status == "draft":
        sop.status = "paused"  # a new SOP set up paused; resuming it starts it
        return
    move = {"running": lifecycle.start, "paused": lifecycle.pause,
            "ended": lifecycle.end_sop}[wanted]
    move(session, sop, now)


def import_document(session: Session, doc, now: datetime | None = None) -> list[Problem]:
    """Validate `doc`, then apply it. Returns problems (and writes nothing) or [].

    An SOP whose status moves to running starts as of `now` (default: the clock).
    """
    problems = validate_document(doc, known_from_db(session))
    if problems:
        return problems
    doc = doc or {}
    if "settings" in doc:
        apply_settings(session, doc["settings"])
    for section, apply in (("employees", apply_employee), ("tags", apply_tag),
                           ("materials", apply_material), ("segments", apply_segment)):
        for item in doc.get(section) or []:
            apply(session, item)
    session.flush()
    now = now or utcnow()
    sops = [(apply_sop(session, d, now), d) for d in doc.get("sops") or []]
    session.flush()
    for sop, d in sops:
        apply_flows(session, sop, d)
    session.flush()
    for sop, d in sops:
        move_status(session, sop, d.get("status"), now)
    session.flush()
    for sop, _ in sops:
        record_sop_version(session, sop)
    for d in doc.get("journeys") or []:
        apply_journey(session, d)
    session.flush()
    return []


def record_sop_version(session: Session, sop: Sop) -> SopVersion | None:
    """Keep this save as a new version, with a diff against the previous one."""
    session.flush()
    session.refresh(sop)
    snapshot = sop_to_dict(sop)
    previous = session.scalar(select(SopVersion).where(SopVersion.sop_id == sop.id)
                              .order_by(SopVersion.version.desc()).limit(1))
    if previous is not None and previous.snapshot == snapshot:
        return None
    before = dump_yaml(previous.snapshot).splitlines() if previous else []
    diff = "\n".join(difflib.unified_diff(
        before, dump_yaml(snapshot).splitlines(),
        f"v{previous.version}" if previous else "empty", "new", lineterm=""))
    number = previous.version + 1 if previous else 1
    version = SopVersion(sop_id=sop.id, version=number, actor=current_actor(),
                         snapshot=snapshot, diff=diff)
    sop.version = number
    session.add(version)
    session.flush()
    return version
