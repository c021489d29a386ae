"""Validation of configuration in its config-as-code shape (SPEC §8).

One set of rules serves the YAML importer and the admin forms: both turn what
they were given into plain dicts and ask `validate_*` for problems. Each problem
carries the path of the offending value (`journeys[0].stages[3].rules`).
Pure: standard library only; what exists in the database comes in as `Known`.
The checks themselves live in `checker`, `rules_sop`, `rules_journey`, `rules_catalog`.
"""
from __future__ import annotations

from jobs.core.checker import N_, Checker, Known, Problem, as_list, join, parse_at
from jobs.core.rules_catalog import (
    check_employee, check_material, check_segment, check_settings, check_tag,
)
from jobs.core.rules_journey import check_enabled_limit, check_journey, rule_conditions
from jobs.core.rules_sop import canonical_target, check_sop

__all__ = [
    "N_", "Checker", "Known", "Problem", "as_list", "canonical_target", "check_employee",
    "check_material", "check_segment", "check_settings", "check_tag", "parse_at",
    "rule_conditions", "validate_document", "validate_journey", "validate_sop",
]


DOCUMENT_KEYS = ("settings", "employees", "tags", "materials", "segments", "sops", "journeys")


def widen_known(doc: dict, known: Known) -> Known:
    """What the document itself defines is known to the rest of the document."""
    def items(section):  # a section of the wrong shape is reported by its own check
        found = doc.get(section)
        return [x for x in found if isinstance(x, dict)] if isinstance(found, list) else []

    def keys(section, name):
        return {x.get(name) for x in items(section) if isinstance(x.get(name), str)}

    stages = known.stages
    settings = doc.get("settings")
    if isinstance(settings, dict) and isinstance(settings.get("lifecycle_stages"), list):
        stages = tuple(str(s) for s in settings["lifecycle_stages"])
    departments = {e.get("department") for e in items("employees")
                   if isinstance(e.get("department"), str)}
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
