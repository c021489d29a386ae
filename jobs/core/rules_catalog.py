"""Checks of settings and the catalogues: employees, tags, materials, segments."""
from __future__ import annotations

from datetime import date
from zoneinfo import available_timezones

from jobs.core import vocab as V
from jobs.core.checker import Checker, join
from jobs.core.media import type_problem
from jobs.core.rules_sop import check_condition_set

SEGMENT_KEYS = ("sources", "tags_any", "tags_all", "tags_none", "stages", "churn_status",
                "tiers", "owners", "departments", "added_from", "added_to")


# --- settings and catalogues ------------------------------------------------------
def check_settings(c: Checker, s, path: str) -> None:
    allowed = ("timezone", "quota", "channel", "webhook_url", "wecom", "lifecycle_stages",
               "tiers", "crm", "calendar")
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
    crm = s.get("crm")
    cpath = join(path, "crm")
    if crm is not None and c.mapping(crm, cpath, (*V.CRM_SETTINGS, *V.CRM_TEXT_SETTINGS)):
        for name, (low, high) in V.CRM_SETTINGS.items():
            c.integer(crm, name, cpath, low=low, high=high)
        c.text(crm, "prospect_stage", cpath, max_len=50)
        stage = crm.get("prospect_stage")
        if stage and isinstance(stages, list) and stage not in stages:
            c.add(join(cpath, "prospect_stage"), "'{name}' is not one of the lifecycle stages",
                  name=stage)


    if s.get("calendar") is not None:
        check_calendar(c, s["calendar"], join(path, "calendar"))


def parse_day(value) -> date | None:
    """A calendar date: YAML reads an unquoted 2027-01-01 as a date, quoted as text."""
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def check_calendar(c: Checker, cal, path: str) -> None:
    """`{holidays: [YYYY-MM-DD, ...], workdays: [...]}`: real dates, each listed once."""
    if not c.mapping(cal, path, ("holidays", "workdays")):
        return
    seen: dict[date, str] = {}
    for kind in ("holidays", "workdays"):
        for i, value in enumerate(c.items(cal.get(kind), join(path, kind))):
            day = parse_day(value)
            if day is None:
                c.add(join(join(path, kind), i), "not a date (YYYY-MM-DD): '{value}'",
                      value=value)
            elif day in seen:
                c.add(join(join(path, kind), i), "{day} is already listed in {kind}",
                      day=day.isoformat(), kind=seen[day])
            else:
                seen[day] = kind


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
    c.text(m, "content", path, required=kind == "text")
    c.text(m, "url", path, max_len=500, required=kind == "link" or (
        kind in ("image", "file", "miniprogram") and not m.get("file")))
    url = m.get("url")
    web = kind in ("link", "image", "file")  # a mini-program card holds a page path
    if web and isinstance(url, str) and url and not url.startswith(("http://", "https://")):
        c.add(join(path, "url"), "must start with http:// or https://")
    check_upload_name(c, m.get("file"), join(path, "file"))
    if isinstance(m.get("file"), str) and isinstance(kind, str) and m["file"] != "uploaded":
        problem = type_problem(kind, m["file"])
        if problem:
            c.add(join(path, "file"), problem[0], **problem[1])


def check_upload_name(c: Checker, name, path: str) -> None:
    """An uploaded file is named inside the upload folder: a bare file name, no path."""
    if name is None:
        return
    if not isinstance(name, str) or not name or len(name) > 300 or name.startswith(".") \
            or any(ch in name for ch in "/\\\0") or name in (".", ".."):
        c.add(path, "must be a file name inside the upload folder (no path)")


def check_segment(c: Checker, seg, path: str) -> None:
    if not c.mapping(seg, path, ("key", "name", "filter")):
        return
    c.key(seg, "key", path)
    c.text(seg, "name", path, required=True, max_len=100)
    check_condition_set(c, seg.get("filter") or {}, join(path, "filter"), SEGMENT_KEYS)
