"""The journey's stages as a picture: cards left to right, each opening its rules as
sentences and its reminders (static/editors/journey_editor.js draws and edits them).

The form underneath is unchanged: the stages are still Flask-Admin's nested inline
lists (stage -> rule -> condition, stage -> reminder), checked by the shared config
rules. This module hands the script the form's state as JSON — values, the errors on
each field by its field id, choices and words in the user's language — and the script
posts the same field names back (`stages-0-rules-1-conditions-0-tags`), so saving and
validation stay on the server.
"""
from __future__ import annotations

import json

from flask import request, url_for
from flask_admin.form import rules
from flask_babel import gettext, lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import select

from admin_views.choices import CHURN_LABELS, lifecycle_stages, tag_names
from jobs.core import vocab as V
from jobs.core.sentences import rules_sentence
from models import Material, db

CONDITION_KINDS = {"tags_any": _l("Has any of the tags"), "stage": _l("Lifecycle stage is"),
                   "churn_status": _l("Churn status is")}
REMINDER_KINDS = {"stage": _l("Stage reminder"), "followup": _l("Employee follow-up")}


def sentence_words() -> dict:
    """The words of a rule sentence in the user's language (jobs/core/sentences.py)."""
    return {"tags_any": gettext("has tag %(value)s", value="{value}"),
            "stage": gettext("stage %(value)s", value="{value}"),
            "churn_status": gettext("churn status %(value)s", value="{value}"),
            "and": gettext("and"), "or": gettext("or"), "or_tags": "/",
            "nobody": gettext("No rules: customers are only moved here by hand"),
            "empty": "?"}


def stage_sentence(stage_rules: list) -> str:
    """A stage's rules (config shape) as one sentence."""
    labels = {k: str(v) for k, v in CHURN_LABELS.items()}
    return rules_sentence(stage_rules, sentence_words(), labels)


def rules_from_editor(raw) -> list:
    """The script's rules ([[{kind, tags, value}]]) in the config shape; junk is dropped."""
    out = []
    for rule in raw if isinstance(raw, list) else []:
        conditions = []
        for cond in rule if isinstance(rule, list) else []:
            if not isinstance(cond, dict):
                continue
            kind = cond.get("kind")
            value = cond.get("tags") if kind == "tags_any" else cond.get("value")
            conditions.append({str(kind): value})
        out.append({"all": conditions})
    return out


# --- the form's state for the script --------------------------------------------------
def _errors(field) -> list[str]:
    return [str(e) for e in (field.errors or []) if isinstance(e, str)]


def errors_by_id(fields) -> dict[str, list[str]]:
    """Every message on these fields and the fields of their inline lists, by field id
    (a form is an iterable of its fields)."""
    found: dict[str, list[str]] = {}

    def walk(field):
        if _errors(field):
            found[field.id] = _errors(field)
        for entry in getattr(field, "entries", ()):
            for child in entry.form:
                walk(child)

    for field in fields:
        walk(field)
    return found


def _id(field) -> int | None:
    value = field.data
    return int(value) if str(value or "").isdigit() else None


def _condition(f) -> dict:
    return {"id": _id(f.id), "kind": f.kind.data or "tags_any",
            "tags": list(f.tags.data or []), "value": f.value.data or ""}


def _reminder(f) -> dict:
    return {"id": _id(f.id), "day": f.day.raw_data[0] if f.day.raw_data else f.day.data,
            "hour": f.hour.raw_data[0] if f.hour.raw_data else f.hour.data,
            "kind": f.kind.data or "stage", "text": f.text.data or "",
            "attachments": [m.id for m in f.attachments.data or []]}


def _rows(field, build) -> list[dict]:
    """Each entry of an inline list; one marked for deletion keeps only its id."""
    return [{"id": _id(e.form.id), "deleted": True} if field.should_delete(e)
            else build(e.form) for e in field.entries]


def _stage(f) -> dict:
    stage = {"id": _id(f.id), "key": f.key.data or "", "name": f.name.data or "",
             "description": f.description.data or "",
             "rules": _rows(f.rules, lambda r: {"id": _id(r.id),
                                                "conditions": _rows(r.conditions, _condition)}),
             "reminders": _rows(f.reminders, _reminder)}
    config_rules = [{"all": [{c["kind"]: c["tags"] if c["kind"] == "tags_any" else c["value"]}
                             for c in rule["conditions"] if not c.get("deleted")]}
                    for rule in stage["rules"] if not rule.get("deleted")]
    stage["sentence"] = stage_sentence(config_rules)
    return stage


def editor_state(form) -> dict:
    materials = db.session.execute(
        select(Material.id, Material.title, Material.kind).order_by(Material.key)).all()
    return {
        "stages": _rows(form.stages, _stage),
        "errors": errors_by_id([form.stages]),
        "choices": {
            "tags": tag_names(), "stages": lifecycle_stages(),
            "churn": [[s, str(CHURN_LABELS[s])] for s in V.CHURN_STATUSES],
            "condition_kinds": [[k, str(v)] for k, v in CONDITION_KINDS.items()],
            "reminder_kinds": [[k, str(v)] for k, v in REMINDER_KINDS.items()],
            "materials": [[m.id, m.title] for m in materials],
        },
        "limits": {"stages": V.MAX_STAGES, "rules": V.MAX_RULES_PER_STAGE,
                   "conditions": V.MAX_CONDITIONS_PER_RULE,
                   "attachments": V.MAX_ATTACHMENTS},
        "sentence_url": url_for(".sentence_view"),
        "nobody_sentence": stage_sentence([]),
        "words": editor_words(),
    }


def editor_words() -> dict:
    """Every label the script shows, translated here (the script holds no text)."""
    return {k: str(v) for k, v in {
        "add_stage": _l("Add stage"), "edit": _l("Edit"), "remove": _l("Remove"),
        "left": _l("Move left"), "right": _l("Move right"), "done": _l("Done editing"),
        "key": _l("Key"), "name": _l("Name"), "description": _l("Description"),
        "enters_when": _l("Customers are in this stage when"),
        "rule": _l("Rule %(n)s: all of these hold", n="{n}"), "or": _l("or"),
        "add_rule": _l("Add rule (or)"), "add_condition": _l("Add condition (and)"),
        "remove_rule": _l("Remove rule"), "reminders": _l("Reminders"),
        "add_reminder": _l("Add reminder"), "no_reminders": _l("No reminders"),
        "day": _l("Day after entering"), "hour": _l("Hour (0-23)"), "kind": _l("Kind"),
        "text": _l("Text"), "attachments": _l("Attachments"),
        "reminder_line": _l("Day %(day)s, %(hour)s:00", day="{day}", hour="{hour}"),
        "untitled": _l("(no name yet)"),
        "has_errors": _l("This stage has problems: open it to see them"),
        "editing": _l("Editing stage"),
        "confirm_remove": _l("Remove this stage with its rules and reminders?"),
    }.items()}


class StageCards(rules.BaseRule):
    """Stands in the form rules for the `stages` inline list: the cards and the script's
    data instead of three levels of nested forms."""

    @property
    def visible_fields(self) -> list[str]:
        return ["stages"]

    def __call__(self, form, form_opts=None, field_args=None):
        data = json.dumps(editor_state(form), ensure_ascii=False).replace("<", "\\u003c")
        return Markup(
            '<div id="journey-editor" class="journey-editor"></div>'
            '<div id="journey-editor-fields" hidden></div>'
            '<script type="application/json" id="journey-editor-data">{}</script>'
        ).format(Markup(data))


def sentence_response():
    """POST {"rules": [[{kind, tags, value}]]} -> {"sentence"}: the card's text after an
    edit, from the same function as the first render."""
    payload = request.get_json(silent=True) or {}
    return {"sentence": stage_sentence(rules_from_editor(payload.get("rules")))}
