"""The SOP editor in four steps, like the WeCom SCRM consoles: 1 basics and target,
2 steps, 3 end rules, 4 review with the preview, then save.

It is still the one SOP form posted once at the end: the form rules wrap its field
sets in panes (`WizardPane`) that static/editors/sop_wizard.js shows one at a time.
Moving on asks the server (`check_response`), which runs the very validation a save
runs — WTForms and the shared config rules — and answers with the messages by field
id, so a bad day at step 2 is shown at step 2 before anything is saved; at step 4 it
adds the dry run of jobs/preview.py (who would enter now, the next 30 days' sends).
"""
from __future__ import annotations

import json
import os

from flask import abort, get_flashed_messages, render_template, send_from_directory, url_for
from flask_admin.form import rules
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import select

from admin_views.catalog import MATERIAL_LABELS, upload_folder
from admin_views.choices import KIND_LABELS
from admin_views.journey_editor import errors_by_id
from jobs.core import vocab as V
from jobs.preview import preview
from models import Customer, Material, Sop, db
from models.base import utcnow

PREVIEW_DAYS = 30
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")


class WizardPane(rules.NestedRule):
    """One step of the editor: its field sets inside a <fieldset> the script pages through."""

    def __init__(self, number: int, title, children):
        super().__init__(children)
        self.number, self.title = number, title

    def __call__(self, form, form_opts=None, field_args=None):
        inner = super().__call__(form, form_opts, field_args)
        return Markup('<fieldset class="wizard-pane" data-step="{}" data-title="{}">{}'
                      '</fieldset>').format(self.number, self.title, inner)


class ReviewPane(rules.BaseRule):
    """Step 4: the review filled in by the server's answer, and the script's data."""

    def __init__(self, number: int, title):
        super().__init__()
        self.number, self.title = number, title

    def __call__(self, form, form_opts=None, field_args=None):
        stored = getattr(form, "_obj", None)
        data = json.dumps(wizard_data(stored), ensure_ascii=False).replace("<", "\\u003c")
        return Markup(
            '<fieldset class="wizard-pane" data-step="{}" data-title="{}">'
            '<div id="sop-review" class="sop-review mt-3"></div></fieldset>'
            '<script type="application/json" id="sop-wizard-data">{}</script>'
        ).format(self.number, self.title, Markup(data))


def wizard_data(stored: Sop | None) -> dict:
    materials = db.session.scalars(select(Material).order_by(Material.key)).all()
    return {
        "check_url": url_for(".check_view", id=stored.id) if stored is not None
        else url_for(".check_view"),
        "max_text_bytes": V.MAX_TEXT_BYTES, "max_attachments": V.MAX_ATTACHMENTS,
        "materials": [{"id": m.id, "title": m.title,
                       "kind": str(MATERIAL_LABELS.get(m.kind, m.kind)),
                       "thumb": url_for(".material_thumb_view", id=m.id)
                       if has_thumbnail(m) else None} for m in materials],
        "words": {k: str(v) for k, v in {
            "next": _l("Next"), "back": _l("Back"),
            "fix_here": _l("Please fix the marked fields on this step."),
            "chars": _l("%(n)s characters, %(bytes)s of %(max)s bytes", n="{n}",
                        bytes="{bytes}", max="{max}"),
            "pick": _l("Pick attachments (click to add or remove)"),
            "unreachable": _l("The check could not be reached; try again."),
        }.items()},
    }


def has_thumbnail(material: Material) -> bool:
    return material.kind == "image" and bool(material.file_path) and \
        material.file_path.lower().endswith(IMAGE_SUFFIXES)


def material_thumbnail(material_id: str):
    """An uploaded image material's file, for the attachment picker's tiles."""
    material = db.session.get(Material, int(material_id)) if material_id.isdigit() else None
    if material is None or not has_thumbnail(material):
        abort(404)
    folder = upload_folder()
    if not os.path.isfile(os.path.join(folder, material.file_path)):
        abort(404)
    return send_from_directory(folder, material.file_path, max_age=3600)


# --- the check a step asks for --------------------------------------------------------
def check_response(view, stored: Sop | None, review: bool) -> dict:
    """Validate the posted form as a save would, save nothing; with `review` and no
    problem, add the review of step 4."""
    form = view.edit_form(obj=stored) if stored is not None else view.create_form()
    ok = view.validate_form(form)
    db.session.rollback()
    messages = [text for category, text in get_flashed_messages(with_categories=True)
                if category == "error"]
    answer = {"ok": ok and not messages, "errors": errors_by_id(form), "messages": messages}
    if answer["ok"] and review:
        answer["review"] = review_html(view, form, stored)
    return answer


def review_html(view, form, stored: Sop | None) -> str:
    """The SOP as the form would save it, with its dry run; the session is rolled back,
    so nothing of it is kept."""
    from config_io.importer import normalise_condition
    from jobs.core.config_rules import parse_at

    try:
        with db.session.no_autoflush:
            sop = stored if stored is not None else Sop(status="draft")
            form.populate_obj(sop)
            sop.target = normalise_condition(sop.target)
            sop.early_end_when = normalise_condition(sop.early_end_when)
            steps = sorted((s for s in sop.steps if s not in db.session.deleted),
                           key=lambda s: (s.day, parse_at(s.at_time) or s.at_time or ""))
            for step in steps:
                step.at_time = parse_at(step.at_time) or step.at_time
            sop.steps = steps  # without those marked for deletion
            result = preview(db.session, sop, utcnow(), PREVIEW_DAYS)
            names = dict(db.session.execute(
                select(Customer.external_id, Customer.name)
                .where(Customer.external_id.in_(result["sample"]))).all())
            html = render_template(
                "admin/sop_review.html", sop=sop, steps=steps, result=result,
                sample=[names.get(x) or x for x in result["sample"][:8]],
                kind_label=KIND_LABELS.get(sop.kind, sop.kind), days=PREVIEW_DAYS,
                busy_days=[d for d in result["calendar"]
                           if d["messages"] or d["tasks"] or d["deferred_by_quota"]],
                actions=view.step_action_labels)
    finally:
        db.session.rollback()
    return html
