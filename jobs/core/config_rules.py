"""Validation of configuration in its config-as-code shape (SPEC §8).

One set of rules serves the YAML importer and the admin forms: both turn what
they were given into plain dicts and ask `validate_*` for problems. Each problem
carries the path of the offending value (`journeys[0].stages[3].rules`).
Pure: standard library only; what exists in the database comes in as `Known`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, available_timezones

from jobs.core import vocab as V

KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
HHMM_RE = re.compile(r"^(\d{1,2}):(\d{2})$")

TARGET_KEYS = ("sources", "tags_any", "tags_all", "tags_none", "segment", "stages",
               "churn_status", "members", "departments")
EARLY_END_KEYS = ("sources", "tags_any", "tags_all", "tags_none", "stages", "churn_status")
SEGMENT_KEYS = ("sources", "tags_any", "tags_all", "tags_none", "stages", "churn_status",
                "tiers", "owners", "departments", "added_from", "added_to")


@dataclass(frozen=True)
class Problem:
    """One thing wrong, at `path`. `template` + `params` let a UI translate the message."""

    path: str
    template: str
    params: dict = field(default_factory=dict, compare=False)

    @property
    def message(self) -> str:
        return self.template.format(**self.params)

    def localized(self, gettext) -> str:
        """The message through a translator (the admin passes flask_babel.gettext)."""
        words = {k: gettext(v) if k in ("what", "field") else v
                 for k, v in self.params.items()}
        return gettext(self.template).format(**words)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass
class Known:
    """What the database already holds, for references and the lock rule."""

    tags: set[str] = field(default_factory=set)
    materials: set[str] = field(default_factory=set)
    employees: set[str] = field(default_factory=set)
    departments: set[str] = field(default_factory=set)
    segments: set[str] = field(default_factory=set)
    stages: tuple[str, ...] = V.DEFAULT_LIFECYCLE_STAGES
    sop_kinds: dict[str, str] = field(default_factory=dict)
    # key -> the stored SOP's status, kind and target (members/departments included)
    sop_locks: dict[str, dict] = field(default_factory=dict)
    enabled_journeys: set[str] = field(default_factory=set)
    # key -> the stored journey (config shape) of journeys whose data sync is running
    syncing_journeys: dict[str, dict] = field(default_factory=dict)


def N_(word: str) -> str:
    """Marks a word for the translation catalogue (it fills a {what} placeholder)."""
    return word


WORDS = (N_("rules"), N_("stages"), N_("conditions"), N_("attachments"), N_("tag"),
         N_("material"), N_("employee"), N_("department"), N_("stage"), N_("tier"),
         N_("churn status"), N_("key"), N_("name"), N_("userid"))


def join(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else part


def parse_at(value) -> str | None:
    """A step time as "HH:MM"; YAML reads an unquoted 10:00 as 600 (minutes)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        hours, minutes = divmod(value, 60)
    elif isinstance(value, str) and (m := HHMM_RE.match(value.strip())):
        hours, minutes = int(m.group(1)), int(m.group(2))
    else:
        return None
    if 0 <= hours <= 23 and 0 <= minutes <= 59:
        return f"{hours:02d}:{minutes:02d}"
    return None


def as_list(value) -> list:
    """A scalar where a list is allowed (`churn_status: lost`) becomes a one-item list."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


class Checker:
    """Collects problems; small helpers keep each rule to one line."""

    def __init__(self, known: Known):
        self.known = known
        self.problems: list[Problem] = []

    def add(self, path: str, template: str, **params) -> None:
        self.problems.append(Problem(path, template, params))

    def mapping(self, value, path: str, allowed) -> bool:
        if not isinstance(value, dict):
            self.add(path, "must be a mapping")
            return False
        for key in value:
            if key not in allowed:
                self.add(join(path, str(key)), "unknown field (allowed: {allowed})", allowed=", ".join(allowed))
        return True

    def items(self, value, path: str, limit: int | None = None, what: str = "items") -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(path, "must be a list")
            return []
        if limit is not None and len(value) > limit:
            self.add(path, "at most {limit} {what}", limit=limit, what=what)
        return value

    def text(self, data: dict, name: str, path: str, required=False, max_len=None) -> None:
        value = data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.add(join(path, name), "is required")
            return
        if not isinstance(value, str):
            self.add(join(path, name), "must be text")
        elif max_len and len(value) > max_len:
            self.add(join(path, name), "at most {n} characters", n=max_len)

    def integer(self, data: dict, name: str, path: str, low=None, high=None,
                required=False) -> None:
        value = data.get(name)
        if value is None:
            if required:
                self.add(join(path, name), "is required")
            return
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(join(path, name), "must be a whole number")
        elif low is not None and value < low:
            self.add(join(path, name), "must be ≥ {n}", n=low)
        elif high is not None and value > high:
            self.add(join(path, name), "must be ≤ {n}", n=high)

    def boolean(self, data: dict, name: str, path: str) -> None:
        if name in data and not isinstance(data[name], bool):
            self.add(join(path, name), "must be true or false")

    def choice(self, data: dict, name: str, path: str, choices, required=False) -> None:
        value = data.get(name)
        if value is None:
            if required:
                self.add(join(path, name), "is required")
        elif value not in choices:
            self.add(join(path, name), "must be one of: {choices}", choices=", ".join(choices))

    def key(self, data: dict, name: str, path: str) -> None:
        value = data.get(name)
        if value is None or value == "":
            self.add(join(path, name), "is required")
        elif not isinstance(value, str) or not KEY_RE.match(value):
            self.add(join(path, name), "letters, digits, '-', '_' or '.', at most 64")

    def names(self, value, path: str, universe, what: str) -> None:
        """A list of names that must each exist in `universe` (`what` names one)."""
        for i, name in enumerate(self.items(value, path)):
            if not isinstance(name, str) or not name.strip():
                self.add(join(path, i), "must be a non-empty name")
            elif name not in universe:
                self.add(join(path, i), "unknown {what} '{name}'", what=what, name=name)

    def unique(self, rows: list, name: str, path: str) -> None:
        seen: set = set()
        for i, row in enumerate(rows):
            value = row.get(name) if isinstance(row, dict) else None
            if value is None:
                continue
            if value in seen:
                self.add(join(join(path, i), name), "duplicate {field} '{value}'", field=name, value=value)
            seen.add(value)


# --- conditions -------------------------------------------------------------
def check_condition_set(c: Checker, cond, path: str, allowed) -> None:
    """A target / early-end / segment filter: all given keys must hold (AND)."""
    if cond is None:
        return
    if not c.mapping(cond, path, allowed):
        return
    for list_key in ("sources",):
        if list_key in cond:
            for i, s in enumerate(c.items(cond[list_key], join(path, list_key))):
                if not isinstance(s, str) or not s.strip():
                    c.add(join(join(path, list_key), i), "must be a non-empty name")
    for tag_key in ("tags_any", "tags_all", "tags_none"):
        if tag_key in cond:
            c.names(cond[tag_key], join(path, tag_key), c.known.tags, "tag")
    if "stages" in cond:
        c.names(as_list(cond["stages"]), join(path, "stages"), c.known.stages, "stage")
    if "churn_status" in cond:
        c.names(as_list(cond["churn_status"]), join(path, "churn_status"), V.CHURN_STATUSES,
                "churn status")
    if "tiers" in cond:
        c.names(as_list(cond["tiers"]), join(path, "tiers"), V.TIERS, "tier")
    if "segment" in cond and cond["segment"] is not None:
        if cond["segment"] not in c.known.segments:
            c.add(join(path, "segment"), "unknown segment '{name}'", name=cond["segment"])
    if "members" in cond:
        c.names(cond["members"], join(path, "members"), c.known.employees, "employee")
    if "owners" in cond:
        c.names(cond["owners"], join(path, "owners"), c.known.employees, "employee")
    if "departments" in cond:
        c.names(cond["departments"], join(path, "departments"), c.known.departments,
                "department")


def _attachments(c: Checker, data: dict, path: str) -> None:
    if data.get("attachments") is not None:
        apath = join(path, "attachments")
        c.items(data["attachments"], apath, V.MAX_ATTACHMENTS, "attachments")
        c.names(data["attachments"], apath, c.known.materials, "material")
    _text_bytes(c, data, path)


def _text_bytes(c: Checker, data: dict, path: str) -> None:
    text = data.get("text")
    if isinstance(text, str) and len(text.encode("utf-8")) > V.MAX_TEXT_BYTES:
        c.add(join(path, "text"), "at most {n} bytes", n=V.MAX_TEXT_BYTES)


# --- SOPs ---------------------------------------------------------------------
STEP_KEYS = ("key", "day", "at", "action", "text", "attachments", "title", "assignee",
             "deadline_hours", "add_tags", "remove_tags", "stage")


def check_step(c: Checker, step, path: str) -> None:
    if not c.mapping(step, path, STEP_KEYS):
        return
    c.integer(step, "day", path, low=0, required=True)
    if "at" not in step or step["at"] is None:
        c.add(join(path, "at"), "is required")
    elif parse_at(step["at"]) is None:
        c.add(join(path, "at"), "must be a time HH:MM (00:00–23:59)")
    c.choice(step, "action", path, V.STEP_ACTIONS, required=True)
    if "key" in step and step["key"] is not None:
        c.key(step, "key", path)
    action = step.get("action")
    if action == "message":
        c.text(step, "text", path, required=True)
        _attachments(c, step, path)
    elif action == "task":
        c.text(step, "title", path, required=True, max_len=200)
        c.text(step, "text", path)
        check_assignee(c, step.get("assignee"), join(path, "assignee"))
        c.integer(step, "deadline_hours", path, low=1, high=24 * 90)
    elif action == "tag":
        c.names(step.get("add_tags") or [], join(path, "add_tags"), c.known.tags, "tag")
        c.names(step.get("remove_tags") or [], join(path, "remove_tags"), c.known.tags, "tag")
        if not step.get("add_tags") and not step.get("remove_tags"):
            c.add(join(path, "add_tags"), "a tag step adds or removes at least one tag")
    elif action == "stage":
        if step.get("stage") not in c.known.stages:
            c.add(join(path, "stage"), "must be one of: {choices}", choices=", ".join(c.known.stages))


def check_assignee(c: Checker, value, path: str) -> None:
    if value in (None, "", "owner"):
        return
    if isinstance(value, str) and value.startswith("role:"):
        if value[5:] not in V.ROLES:
            c.add(path, "unknown role '{name}' (one of: {choices})", name=value[5:],
                  choices=", ".join(V.ROLES))
    elif isinstance(value, str) and value.startswith("employee:"):
        if value[9:] not in c.known.employees:
            c.add(path, "unknown employee '{name}'", name=value[9:])
    else:
        c.add(path, "must be 'owner', 'role:<role>' or 'employee:<userid>'")


SOP_KEYS = ("key", "name", "kind", "description", "status", "priority", "target", "trigger",
            "entry_window_hours", "batch", "conversion_days", "holdout_percent", "steps",
            "early_end", "normal_end")


def check_sop(c: Checker, sop, path: str, kinds: dict[str, str]) -> None:
    """`kinds` maps every SOP key visible to this check (database + document) to its kind."""
    if not c.mapping(sop, path, SOP_KEYS):
        return
    c.key(sop, "key", path)
    c.text(sop, "name", path, required=True, max_len=100)
    c.choice(sop, "kind", path, V.SOP_KINDS, required=True)
    c.choice(sop, "status", path, V.SOP_STATUSES)
    c.integer(sop, "priority", path, low=-1000, high=1000)
    c.integer(sop, "entry_window_hours", path, low=1, high=24 * 30)
    c.integer(sop, "conversion_days", path, low=1, high=365)
    c.integer(sop, "holdout_percent", path, low=0, high=50)
    if sop.get("trigger") is not None:
        if sop.get("kind") != "playbook":
            c.add(join(path, "trigger"), "only a playbook SOP is started by an event")
        else:
            c.choice(sop, "trigger", path, V.EVENT_TYPES)
    batch = sop.get("batch")
    if batch is not None and c.mapping(batch, join(path, "batch"), ("size", "interval_minutes")):
        c.integer(batch, "size", join(path, "batch"), low=1, high=V.MAX_BATCH_SIZE)
        c.integer(batch, "interval_minutes", join(path, "batch"), low=0, high=24 * 60)
    check_condition_set(c, sop.get("target"), join(path, "target"), TARGET_KEYS)
    steps = c.items(sop.get("steps"), join(path, "steps"))
    for i, step in enumerate(steps):
        check_step(c, step, join(join(path, "steps"), i))
    c.unique([s for s in steps if isinstance(s, dict)], "key", join(path, "steps"))
    check_end(c, sop, "early_end", path, kinds)
    check_end(c, sop, "normal_end", path, kinds)
    check_lock(c, sop, path)
    check_status_move(c, sop, path)


def check_end(c: Checker, sop: dict, which: str, path: str, kinds: dict[str, str]) -> None:
    end = sop.get(which)
    if end is None:
        return
    end_path = join(path, which)
    allowed = ("when", "add_tags", "flow_to") if which == "early_end" else ("add_tags", "flow_to")
    if not c.mapping(end, end_path, allowed):
        return
    if which == "early_end":
        when = end.get("when")
        check_condition_set(c, when, join(end_path, "when"), EARLY_END_KEYS)
        if not when and (end.get("add_tags") or end.get("flow_to")):
            c.add(join(end_path, "when"), "an early end needs a condition")
    c.names(end.get("add_tags") or [], join(end_path, "add_tags"), c.known.tags, "tag")
    flow_to = end.get("flow_to")
    if flow_to is None:
        return
    if flow_to == sop.get("key"):
        c.add(join(end_path, "flow_to"), "an SOP cannot flow into itself")
    elif flow_to not in kinds:
        c.add(join(end_path, "flow_to"), "unknown SOP '{name}'", name=flow_to)
    elif kinds[flow_to] != "nurture":
        c.add(join(end_path, "flow_to"), "must be a nurture SOP ('{name}' is {kind})",
              name=flow_to, kind=kinds[flow_to])


def _target_of(sop: dict) -> dict:
    return {k: v for k, v in (sop.get("target") or {}).items() if v not in (None, [], "")}


def check_lock(c: Checker, sop: dict, path: str) -> None:
    """Target and kind change only while the stored SOP is draft or paused."""
    stored = c.known.sop_locks.get(sop.get("key"))
    if not stored or stored["status"] in V.EDITABLE_TARGET_STATUSES:
        return
    changed = []
    if "kind" in sop and sop["kind"] != stored["kind"]:
        changed.append("kind")
    # no target in the document means an empty one (the importer clears it)
    if canonical_target(_target_of(sop)) != canonical_target(stored["target"]):
        changed.append("target")
    for name in changed:
        c.add(join(path, name), "can only change while the SOP is draft or paused (it is {status})",
              status=stored["status"])


def check_status_move(c: Checker, sop: dict, path: str) -> None:
    """Statuses follow the lifecycle; nothing goes back to draft or out of ended."""
    new = sop.get("status")
    stored = c.known.sop_locks.get(sop.get("key"))
    if new is None or new not in V.SOP_STATUSES:
        return
    if stored is None:
        if new == "initializing":
            c.add(join(path, "status"), "is set by the engine while an SOP starts")
    elif new != stored["status"] and new not in V.SOP_STATUS_MOVES[stored["status"]]:
        c.add(join(path, "status"), "cannot go from {old} to {new}", old=stored["status"],
              new=new)


def canonical_target(target: dict) -> dict:
    """A target with scalars listified and lists sorted, for comparison."""
    out = {}
    for key, value in (target or {}).items():
        if value in (None, [], ""):
            continue
        out[key] = value if key == "segment" else sorted(str(v) for v in as_list(value))
    return out


# --- journeys -----------------------------------------------------------------
def check_condition(c: Checker, cond, path: str) -> str | None:
    """One journey condition; returns its kind."""
    if not isinstance(cond, dict) or len(cond) != 1:
        c.add(path, "a condition is exactly one of tags_any, stage, churn_status")
        return None
    kind, value = next(iter(cond.items()))
    if kind == "tags_any":
        if not isinstance(value, list) or not value:
            c.add(join(path, "tags_any"), "a tag box needs at least one tag")
        else:
            c.names(value, join(path, "tags_any"), c.known.tags, "tag")
    elif kind == "stage":
        if value not in c.known.stages:
            c.add(join(path, "stage"), "must be one of: {choices}", choices=", ".join(c.known.stages))
    elif kind == "churn_status":
        if value not in V.CHURN_STATUSES:
            c.add(join(path, "churn_status"), "must be one of: {choices}",
                  choices=", ".join(V.CHURN_STATUSES))
    else:
        c.add(join(path, str(kind)), "unknown condition (tags_any, stage or churn_status)")
        return None
    return kind


def rule_conditions(rule) -> list:
    """A rule is one condition or {all: [conditions]}."""
    if isinstance(rule, dict) and set(rule) == {"all"}:
        return rule["all"] if isinstance(rule["all"], list) else [rule["all"]]
    return [rule]


def check_rule(c: Checker, rule, path: str) -> None:
    is_all = isinstance(rule, dict) and set(rule) == {"all"}
    conds = rule_conditions(rule)
    cond_path = join(path, "all") if is_all else path
    if is_all and not isinstance(rule["all"], list):
        c.add(cond_path, "must be a list of conditions")
        return
    if not conds:
        c.add(cond_path, "a rule needs at least one condition")
    if len(conds) > V.MAX_CONDITIONS_PER_RULE:
        c.add(cond_path, "at most {limit} {what}", limit=V.MAX_CONDITIONS_PER_RULE,
              what="conditions")
    kinds = [check_condition(c, cond, join(cond_path, i) if is_all else cond_path)
             for i, cond in enumerate(conds)]
    for once in ("stage", "churn_status"):
        if kinds.count(once) > 1:
            c.add(cond_path, "{field} may appear at most once per rule", field=once)


def check_reminder(c: Checker, reminder, path: str) -> None:
    if not c.mapping(reminder, path, ("day", "hour", "text", "attachments", "kind")):
        return
    c.integer(reminder, "day", path, low=0, high=3650, required=True)
    c.integer(reminder, "hour", path, low=0, high=23, required=True)
    c.text(reminder, "text", path, required=True)
    c.choice(reminder, "kind", path, V.REMINDER_KINDS)
    _attachments(c, reminder, path)


def check_journey(c: Checker, journey, path: str) -> None:
    allowed = ("key", "name", "description", "enabled", "automation", "stage_reminders",
               "followup_reminders", "stages")
    if not c.mapping(journey, path, allowed):
        return
    c.key(journey, "key", path)
    c.text(journey, "name", path, required=True, max_len=100)
    for flag in ("enabled", "automation", "stage_reminders", "followup_reminders"):
        c.boolean(journey, flag, path)
    stages = c.items(journey.get("stages"), join(path, "stages"), V.MAX_STAGES, "stages")
    for i, stage in enumerate(stages):
        spath = join(join(path, "stages"), i)
        if not c.mapping(stage, spath, ("key", "name", "description", "rules", "reminders")):
            continue
        c.key(stage, "key", spath)
        c.text(stage, "name", spath, required=True, max_len=100)
        rules = c.items(stage.get("rules"), join(spath, "rules"), V.MAX_RULES_PER_STAGE,
                        "rules")
        for j, rule in enumerate(rules):
            check_rule(c, rule, join(join(spath, "rules"), j))
        for j, reminder in enumerate(c.items(stage.get("reminders"), join(spath, "reminders"))):
            check_reminder(c, reminder, join(join(spath, "reminders"), j))
    c.unique([s for s in stages if isinstance(s, dict)], "key", join(path, "stages"))
    stored = c.known.syncing_journeys.get(journey.get("key"))
    if stored is not None and journey != stored:
        c.add(path, "cannot be edited while its data sync runs")


def check_enabled_limit(c: Checker, journeys: list, path: str) -> None:
    """At most 3 journeys enabled at once, counting those already stored."""
    keys_here = {j.get("key") for j in journeys if isinstance(j, dict)}
    enabled = {j.get("key") for j in journeys if isinstance(j, dict) and j.get("enabled")}
    enabled |= c.known.enabled_journeys - keys_here
    if len(enabled) > V.MAX_ENABLED_JOURNEYS:
        c.add(path, "at most {limit} journeys can be enabled at once ({n} would be: {keys})",
              limit=V.MAX_ENABLED_JOURNEYS, n=len(enabled),
              keys=", ".join(sorted(map(str, enabled))))


# --- settings and catalogues ------------------------------------------------------
def check_settings(c: Checker, s, path: str) -> None:
    allowed = ("timezone", "quota", "channel", "webhook_url", "wecom", "lifecycle_stages",
               "tiers")
    if not c.mapping(s, path, allowed):
        return
    tz = s.get("timezone")
    if tz is not None and (not isinstance(tz, str) or tz not in available_timezones()):
        c.add(join(path, "timezone"), "unknown time zone '{name}'", name=tz)
    quota = s.get("quota")
    qpath = join(path, "quota")
    if quota is not None and c.mapping(
            quota, qpath, ("limit", "period", "daily_budget", "max_lateness_days")):
        c.integer(quota, "limit", qpath, low=1, high=31)
        c.choice(quota, "period", qpath, V.QUOTA_PERIODS)
        c.integer(quota, "daily_budget", qpath, low=1)
        c.integer(quota, "max_lateness_days", qpath, low=0, high=30)
    c.choice(s, "channel", path, V.CHANNELS)
    if s.get("channel") == "webhook":
        c.text(s, "webhook_url", path, required=True, max_len=500)
    wecom = s.get("wecom")
    wpath = join(path, "wecom")
    if wecom is not None and c.mapping(wecom, wpath, (
            "corp_id", "secret", "callback_token", "callback_aes_key", "api_base_url",
            "welcome_message")):
        aes = wecom.get("callback_aes_key")
        if aes and (not isinstance(aes, str) or len(aes) != 43):
            c.add(join(wpath, "callback_aes_key"), "EncodingAESKey is 43 characters")
        url = wecom.get("api_base_url")
        if url and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
            c.add(join(wpath, "api_base_url"), "must start with http:// or https://")
    stages = s.get("lifecycle_stages")
    if stages is not None:
        items = c.items(stages, join(path, "lifecycle_stages"))
        if not items:
            c.add(join(path, "lifecycle_stages"), "at least one stage")
        if len(set(map(str, items))) != len(items):
            c.add(join(path, "lifecycle_stages"), "stages must be unique")
    tiers = s.get("tiers")
    tpath = join(path, "tiers")
    if tiers is not None and c.mapping(tiers, tpath, ("high", "potential")):
        c.integer(tiers, "high", tpath, low=0)
        c.integer(tiers, "potential", tpath, low=0)
        if isinstance(tiers.get("high"), int) and isinstance(tiers.get("potential"), int) \
                and tiers["potential"] > tiers["high"]:
            c.add(join(tpath, "potential"), "must not exceed the high threshold")


def check_employee(c: Checker, e, path: str) -> None:
    if not c.mapping(e, path, ("userid", "name", "department", "role", "active")):
        return
    c.key(e, "userid", path)
    c.text(e, "name", path, required=True, max_len=100)
    c.text(e, "department", path, max_len=100)
    c.choice(e, "role", path, V.EMPLOYEE_ROLES)
    c.boolean(e, "active", path)


def check_tag(c: Checker, t, path: str) -> None:
    if not c.mapping(t, path, ("name", "group")):
        return
    c.text(t, "name", path, required=True, max_len=100)
    c.text(t, "group", path, max_len=100)


def check_material(c: Checker, m, path: str) -> None:
    if not c.mapping(m, path, ("key", "kind", "title", "url", "content", "file")):
        return
    c.key(m, "key", path)
    c.choice(m, "kind", path, V.MATERIAL_KINDS, required=True)
    c.text(m, "title", path, required=True, max_len=200)
    kind = m.get("kind")
    if kind == "text":
        c.text(m, "content", path, required=True)
    elif kind == "link" or (kind in ("image", "file", "miniprogram") and not m.get("file")):
        c.text(m, "url", path, required=True, max_len=500)


def check_segment(c: Checker, seg, path: str) -> None:
    if not c.mapping(seg, path, ("key", "name", "filter")):
        return
    c.key(seg, "key", path)
    c.text(seg, "name", path, required=True, max_len=100)
    check_condition_set(c, seg.get("filter") or {}, join(path, "filter"), SEGMENT_KEYS)


DOCUMENT_KEYS = ("settings", "employees", "tags", "materials", "segments", "sops", "journeys")


def widen_known(doc: dict, known: Known) -> Known:
    """What the document itself defines is known to the rest of the document."""
    def keys(section, name):
        return {x.get(name) for x in doc.get(section) or [] if isinstance(x, dict)
                and isinstance(x.get(name), str)}

    stages = known.stages
    settings = doc.get("settings")
    if isinstance(settings, dict) and isinstance(settings.get("lifecycle_stages"), list):
        stages = tuple(str(s) for s in settings["lifecycle_stages"])
    departments = {e.get("department") for e in doc.get("employees") or []
                   if isinstance(e, dict) and isinstance(e.get("department"), str)}
    return Known(
        tags=known.tags | keys("tags", "name"),
        materials=known.materials | keys("materials", "key"),
        employees=known.employees | keys("employees", "userid"),
        departments=known.departments | departments,
        segments=known.segments | keys("segments", "key"),
        stages=stages,
        sop_kinds=known.sop_kinds,
        sop_locks=known.sop_locks,
        enabled_journeys=known.enabled_journeys,
        syncing_journeys=known.syncing_journeys,
    )


def validate_document(doc, known: Known | None = None) -> list[Problem]:
    """Every problem of a config-as-code document, each with its path."""
    known = known or Known()
    if doc is None:
        doc = {}
    c = Checker(known)
    if not c.mapping(doc, "", DOCUMENT_KEYS):
        return c.problems
    c.known = widen_known(doc, known)
    if "settings" in doc:
        check_settings(c, doc["settings"], "settings")
    for section, checker, key in (("employees", check_employee, "userid"),
                                  ("tags", check_tag, "name"),
                                  ("materials", check_material, "key"),
                                  ("segments", check_segment, "key")):
        rows = c.items(doc.get(section), section)
        for i, row in enumerate(rows):
            checker(c, row, join(section, i))
        c.unique([r for r in rows if isinstance(r, dict)], key, section)
    sops = c.items(doc.get("sops"), "sops")
    kinds = dict(known.sop_kinds)
    kinds.update({s["key"]: s.get("kind") for s in sops
                  if isinstance(s, dict) and isinstance(s.get("key"), str)})
    for i, sop in enumerate(sops):
        check_sop(c, sop, join("sops", i), kinds)
    c.unique([s for s in sops if isinstance(s, dict)], "key", "sops")
    journeys = c.items(doc.get("journeys"), "journeys")
    for i, journey in enumerate(journeys):
        check_journey(c, journey, join("journeys", i))
    c.unique([j for j in journeys if isinstance(j, dict)], "key", "journeys")
    check_enabled_limit(c, journeys, "journeys")
    return c.problems


def validate_sop(sop: dict, known: Known) -> list[Problem]:
    """Problems of one SOP (paths relative to the SOP), as the admin form asks."""
    c = Checker(known)
    kinds = dict(known.sop_kinds)
    if isinstance(sop.get("key"), str):
        kinds[sop["key"]] = sop.get("kind")
    check_sop(c, sop, "", kinds)
    return c.problems


def validate_journey(journey: dict, known: Known) -> list[Problem]:
    c = Checker(known)
    check_journey(c, journey, "")
    check_enabled_limit(c, [journey], "enabled")
    return c.problems
