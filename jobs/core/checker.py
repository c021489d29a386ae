"""The building blocks of configuration checks: problems, what is known, the checker.

Pure: standard library only; what exists in the database comes in as `Known`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from jobs.core import vocab as V

KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
HHMM_RE = re.compile(r"^(\d{1,2}):(\d{2})$")


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
         N_("churn status"), N_("churn_status"), N_("key"), N_("name"), N_("userid"))


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
                self.add(join(path, str(key)), "unknown field (allowed: {allowed})",
                         allowed=", ".join(allowed))
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
            if value is None or not isinstance(value, (str, int, float, bool)):
                continue  # a key of the wrong type is reported by the row's own check
            if value in seen:
                self.add(join(join(path, i), name), "duplicate {field} '{value}'", field=name,
                         value=value)
            seen.add(value)
