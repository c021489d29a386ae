"""Checks of customer journeys (SPEC §4): stages, rules (OR) of conditions (AND), reminders."""
from __future__ import annotations

from jobs.core import vocab as V
from jobs.core.checker import Checker, join
from jobs.core.rules_sop import check_attachments


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
            c.add(join(path, "stage"), "must be one of: {choices}",
                  choices=", ".join(c.known.stages))
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
    check_attachments(c, reminder, path)


def check_journey(c: Checker, journey, path: str) -> None:
    allowed = ("key", "name", "description", "enabled", "automation", "stage_reminders",
               "followup_reminders", "stages")
    if not c.mapping(journey, path, allowed):
        return
    c.key(journey, "key", path)
    c.text(journey, "name", path, required=True, max_len=100)
    c.text(journey, "description", path, max_len=2000)
    for flag in ("enabled", "automation", "stage_reminders", "followup_reminders"):
        c.boolean(journey, flag, path)
    stages = c.items(journey.get("stages"), join(path, "stages"), V.MAX_STAGES, "stages")
    for i, stage in enumerate(stages):
        spath = join(join(path, "stages"), i)
        if not c.mapping(stage, spath, ("key", "name", "description", "rules", "reminders")):
            continue
        c.key(stage, "key", spath)
        c.text(stage, "name", spath, required=True, max_len=100)
        c.text(stage, "description", spath, max_len=2000)
        rules = c.items(stage.get("rules"), join(spath, "rules"), V.MAX_RULES_PER_STAGE,
                        "rules")
        for j, rule in enumerate(rules):
            check_rule(c, rule, join(join(spath, "rules"), j))
        for j, reminder in enumerate(c.items(stage.get("reminders"), join(spath, "reminders"))):
            check_reminder(c, reminder, join(join(spath, "reminders"), j))
    c.unique([s for s in stages if isinstance(s, dict)], "key", join(path, "stages"))
    key = journey.get("key")  # already reported when it is not a string
    stored = c.known.syncing_journeys.get(key) if isinstance(key, str) else None
    if stored is not None and journey != stored:
        c.add(path, "cannot be edited while its data sync runs")


def check_enabled_limit(c: Checker, journeys: list, path: str) -> None:
    """At most 3 journeys enabled at once, counting those already stored."""
    mine = [j for j in journeys if isinstance(j, dict) and isinstance(j.get("key"), str)]
    keys_here = {j["key"] for j in mine}  # a key of the wrong type is reported by its own check
    enabled = {j["key"] for j in mine if j.get("enabled") is True}
    enabled |= c.known.enabled_journeys - keys_here
    if len(enabled) > V.MAX_ENABLED_JOURNEYS:
        c.add(path, "at most {limit} journeys can be enabled at once ({n} would be: {keys})",
              limit=V.MAX_ENABLED_JOURNEYS, n=len(enabled),
              keys=", ".join(sorted(map(str, enabled))))
