"""Checks of SOPs (SPEC §3): target and early-end conditions, steps, end rules, lock."""
from __future__ import annotations

from jobs.core import vocab as V
from jobs.core.checker import Checker, as_list, join, parse_at

TARGET_KEYS = ("sources", "tags_any", "tags_all", "tags_none", "segment", "stages",
               "churn_status", "members", "departments")
EARLY_END_KEYS = ("sources", "tags_any", "tags_all", "tags_none", "stages", "churn_status")


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
        if not isinstance(cond["segment"], str) or cond["segment"] not in c.known.segments:
            c.add(join(path, "segment"), "unknown segment '{name}'", name=cond["segment"])
    if "members" in cond:
        c.names(cond["members"], join(path, "members"), c.known.employees, "employee")
    if "owners" in cond:
        c.names(cond["owners"], join(path, "owners"), c.known.employees, "employee")
    if "departments" in cond:
        c.names(cond["departments"], join(path, "departments"), c.known.departments,
                "department")


def check_attachments(c: Checker, data: dict, path: str) -> None:
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
             "deadline_hours", "add_tags", "remove_tags", "stage", "variants")
VARIANT_KEYS = ("key", "text", "attachments", "weight")


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
        c.text(step, "text", path, required=step.get("variants") is None)
        check_attachments(c, step, path)
        if step.get("variants") is not None:
            check_variants(c, step["variants"], join(path, "variants"))
    elif step.get("variants") is not None:
        c.add(join(path, "variants"), "only a message step has variants")
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
            c.add(join(path, "stage"), "must be one of: {choices}",
                  choices=", ".join(c.known.stages))


def check_variants(c: Checker, variants, path: str) -> None:
    """A/B variants (SPEC §10): 2–4 of them, each with its key, text and weight."""
    items = c.items(variants, path, V.MAX_VARIANTS, "variants")
    if isinstance(variants, list) and len(variants) < V.MIN_VARIANTS:
        c.add(path, "at least {n} variants", n=V.MIN_VARIANTS)
    for i, v in enumerate(items):
        vpath = join(path, i)
        if not c.mapping(v, vpath, VARIANT_KEYS):
            continue
        c.key(v, "key", vpath)
        c.text(v, "text", vpath, required=True)
        check_attachments(c, v, vpath)
        c.integer(v, "weight", vpath, low=1, high=100)
    c.unique([v for v in items if isinstance(v, dict)], "key", path)


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
    c.text(sop, "description", path, max_len=2000)
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
    if not isinstance(flow_to, str):
        c.add(join(end_path, "flow_to"), "must be an SOP key")
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


def stored_lock(c: Checker, sop: dict) -> dict | None:
    """The stored SOP's kind, status and target (a key of the wrong type is reported as such)."""
    key = sop.get("key")
    return c.known.sop_locks.get(key) if isinstance(key, str) else None


def check_lock(c: Checker, sop: dict, path: str) -> None:
    """Target and kind change only while the stored SOP is draft or paused."""
    stored = stored_lock(c, sop)
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
    stored = stored_lock(c, sop)
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
