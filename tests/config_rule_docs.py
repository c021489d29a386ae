"""Documents and known-database stand-ins shared by the config-rule tests."""
from __future__ import annotations

import copy

from jobs.core.config_rules import Known, validate_document

AT_ERROR = "must be a time HH:MM (00:00–23:59)"


def known(**overrides) -> Known:
    base = dict(
        tags={"VIP", "已复购", "提前结束", "种牙", "补牙", "拔牙"},
        materials={f"m{i}" for i in range(12)},
        employees={"zhangsan", "lisi"},
        departments={"华东销售"},
        segments={"loyal"},
        sop_kinds={"care": "nurture", "welcome": "new_customer", "signing": "playbook"},
    )
    base.update(overrides)
    return Known(**base)


def a_sop(**overrides) -> dict:
    """A valid SOP; its status is left out (so no lifecycle move) unless given."""
    sop = {
        "key": "revisit", "name": "回访", "kind": "nurture",
        "target": {"tags_any": ["VIP"]},
        "steps": [
            {"day": 0, "at": "10:00", "action": "message", "text": "欢迎"},
            {"day": 3, "at": "10:00", "action": "message", "text": "回访"},
        ],
    }
    sop.update(overrides)
    return sop


def a_stage(key: str, rules=None, **extra) -> dict:
    return {"key": key, "name": key.title(), "rules": rules or [{"tags_any": ["VIP"]}],
            **extra}


def a_journey(key: str = "dental", enabled: bool = False, stages=None) -> dict:
    return {"key": key, "name": key.title(), "enabled": enabled,
            "stages": stages if stages is not None else [a_stage("first")]}


def problems_of(doc: dict, k: Known | None = None) -> list[str]:
    return [str(p) for p in validate_document(doc, k or known())]


def sop_problems(**overrides) -> list[str]:
    return problems_of({"sops": [a_sop(**overrides)]})


def with_step(index: int, **fields) -> list[dict]:
    steps = copy.deepcopy(a_sop()["steps"])
    steps[index].update(fields)
    return steps
