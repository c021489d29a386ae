"""The SOP screen: one form in sections, steps inline, checked by the shared config rules.

The form is turned into the config-as-code shape of SPEC §8 and checked with
`validate_sop`, the same rules the YAML importer uses; each problem is shown on
the field its path names (`steps[1].day` -> the day of the second step).
"""
from __future__ import annotations

from flask import abort, request, url_for
from flask_admin import expose
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_admin.form import rules
from flask_admin.model.form import InlineFormAdmin
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from wtforms import StringField, TextAreaField
from wtforms.validators import ValidationError

from admin_views.base import SecuredModelView
from admin_views.choices import (
    ACTION_LABELS, CONFIG_ROLES, EVENT_LABELS, KIND_LABELS, STATUS_LABELS, churn_choices,
    labelled, lifecycle_stages, tag_names,
)
from admin_views.forms import (
    CsrfRule, FreeNamesField, Inline, NameChoiceField, NameListField, ReadOnlyField,
    Renumbering, YamlListField, compact, live_entries,
)
from admin_views.lifecycle import SopLifecycleMixin, sop_status
from admin_views.sop_wizard import (
    ReviewPane, WizardPane, check_response, material_thumbnail,
)
from admin_views.system import pretty_json
from jobs.core.config_rules import canonical_target, parse_at, validate_sop
from models import Department, Employee, Material, Segment, Sop, SopStep, db



# --- choices read when a form is shown ----------------------------------------
def segment_choices() -> list[tuple[str, str]]:
    return [(s.key, f"{s.name} [{s.key}]")
            for s in db.session.scalars(select(Segment).order_by(Segment.key))]


def tag_list(label, json_key=None):
    return NameListField(label, choices=tag_names, json_key=json_key)


# --- steps ----------------------------------------------------------------------
class StepInline(InlineFormAdmin):
    form_columns = ("id", "day", "at_time", "action", "text", "attachments", "task_title",
                    "task_assignee", "task_deadline_hours", "add_tags", "remove_tags", "stage",
                    "variants", "key")
    form_overrides = {"action": NameChoiceField, "add_tags": NameListField,
                      "remove_tags": NameListField, "stage": NameChoiceField,
                      "variants": YamlListField}
    form_args = {
        "day": {"label": _l("Day"), "description": _l("Day 0 is the day the customer entered")},
        "at_time": {"label": _l("At (HH:MM)")},
        "action": {"label": _l("Action"), "choices": list(ACTION_LABELS.items()),
                   "blank": False},
        "text": {"label": _l("Text")},
        "attachments": {"label": _l("Attachments (at most 9)"),
                        "query_factory": lambda: db.session.query(Material)
                        .order_by(Material.key),
                        "get_label": "title"},  # as on the picker's tiles
        "task_title": {"label": _l("Task title")},
        "task_assignee": {"label": _l("Task assignee"),
                          "description": _l("owner, role:ROLE or employee:USERID")},
        "task_deadline_hours": {"label": _l("Task deadline (hours)")},
        "add_tags": {"label": _l("Add tags"), "choices": tag_names},
        "remove_tags": {"label": _l("Remove tags"), "choices": tag_names},
        "stage": {"label": _l("Set lifecycle stage"), "choices": lifecycle_stages},
        "key": {"label": _l("Step key"), "description": _l("Optional stable identifier")},
        "variants": {"label": _l("A/B variants (optional)"), "description": _l(
            "2–4 variants in YAML, e.g. - {key: A, text: ..., attachments: [material], "
            "weight: 50}. Each customer always gets the same one, in proportion to the "
            "weights; the data page compares them.")},
    }
    form_widget_args = {"text": {"rows": 3}, "variants": {"rows": 3, "class": "text-monospace"}}


STEP_FIELDS = {"day": "day", "at": "at_time", "action": "action", "text": "text",
               "attachments": "attachments", "title": "task_title",
               "assignee": "task_assignee", "deadline_hours": "task_deadline_hours",
               "add_tags": "add_tags", "remove_tags": "remove_tags", "stage": "stage",
               "key": "key", "variants": "variants", "": "day"}

TARGET_FIELDS = {"sources": "target_sources", "tags_any": "target_tags_any",
                 "tags_all": "target_tags_all", "tags_none": "target_tags_none",
                 "segment": "target_segment", "stages": "target_stages",
                 "churn_status": "target_churn_status", "members": "members",
                 "departments": "departments"}


def step_to_config(f) -> dict:
    """One inline step form in its config shape (`day` kept even when 0)."""
    return compact({
        "key": f.key.data, "at": f.at_time.data, "action": f.action.data,
        "text": f.text.data, "attachments": [m.key for m in f.attachments.data or []],
        "title": f.task_title.data, "assignee": f.task_assignee.data,
        "deadline_hours": f.task_deadline_hours.data, "add_tags": f.add_tags.data,
        "remove_tags": f.remove_tags.data, "stage": f.stage.data,
        "variants": f.variants.data,
    }) | {"day": f.day.data}


SOP_FIELDS = {
    "key": "key", "name": "name", "kind": "kind", "description": "description",
    "priority": "priority", "trigger": "trigger_event",
    "entry_window_hours": "entry_window_hours", "conversion_days": "conversion_days",
    "holdout_percent": "holdout_percent",
    "batch": {"size": "batch_size", "interval_minutes": "batch_interval_minutes"},
    "target": TARGET_FIELDS,
    "steps": Inline("steps", STEP_FIELDS),
    "early_end": {"when": {"tags_any": "early_end_tags_any", "stages": "early_end_stages",
                           "churn_status": "early_end_churn_status", "": "early_end_tags_any"},
                  "add_tags": "early_end_add_tags", "flow_to": "early_end_flow_to"},
    "normal_end": {"add_tags": "normal_end_add_tags", "flow_to": "normal_end_flow_to"},
}


def target_of(form) -> dict:
    return compact({
        "sources": form.target_sources.data, "tags_any": form.target_tags_any.data,
        "tags_all": form.target_tags_all.data, "tags_none": form.target_tags_none.data,
        "segment": form.target_segment.data or None, "stages": form.target_stages.data,
        "churn_status": form.target_churn_status.data,
        "members": [e.userid for e in form.members.data or []],
        "departments": [d.name for d in form.departments.data or []],
    })


def sop_to_config(form) -> dict:
    """The whole form in the config-as-code shape `validate_sop` checks."""
    stored = form._obj
    early_flow, normal_flow = form.early_end_flow_to.data, form.normal_end_flow_to.data
    return compact({
        "key": stored.key if stored else form.key.data,
        "name": form.name.data, "kind": form.kind.data, "description": form.description.data,
        "priority": form.priority.data, "trigger": form.trigger_event.data or None,
        "target": target_of(form),
        "entry_window_hours": form.entry_window_hours.data,
        "batch": compact({"size": form.batch_size.data,
                          "interval_minutes": form.batch_interval_minutes.data}),
        "conversion_days": form.conversion_days.data,
        "holdout_percent": form.holdout_percent.data,
        "steps": [step_to_config(e.form) for e in live_entries(form.steps)],
        "early_end": compact({
            "when": compact({"tags_any": form.early_end_tags_any.data,
                             "stages": form.early_end_stages.data,
                             "churn_status": form.early_end_churn_status.data}),
            "add_tags": form.early_end_add_tags.data,
            "flow_to": early_flow.key if early_flow else None}),
        "normal_end": compact({"add_tags": form.normal_end_add_tags.data,
                               "flow_to": normal_flow.key if normal_flow else None}),
    })


def changed_target_fields(form, stored_target: dict) -> list:
    """The target fields whose value differs from the stored SOP (for the lock message)."""
    mine, theirs = canonical_target(target_of(form)), canonical_target(stored_target)
    return [form._fields[name] for key, name in TARGET_FIELDS.items()
            if mine.get(key) != theirs.get(key)] or [form.members]


def sop_label(sop: Sop) -> str:
    """An SOP to flow into, named with its translated kind and status."""
    return (f"{sop.name} [{sop.key}] · {KIND_LABELS.get(sop.kind, sop.kind)}"
            f" · {STATUS_LABELS.get(sop.status, sop.status)}")


def flow_target(view, context, model, name) -> str:
    target = getattr(model, name)
    return sop_label(target) if target is not None else ""


def version_link(view, context, model, name):
    url = url_for("sop_versions.index_view", flt0_0=model.id)
    return Markup('<a href="{}">v{}</a>').format(url, model.version)


class SopView(SopLifecycleMixin, SecuredModelView):
    roles = CONFIG_ROLES
    write_roles = CONFIG_ROLES
    edit_template = "admin/sop_edit.html"  # steps show the fields of their action
    create_template = "admin/sop_create.html"
    details_template = "admin/sop_details.html"  # lifecycle buttons, first evaluation
    list_template = "admin/progress_list.html"

    column_list = ("key", "name", "kind", "status", "priority", "step_count", "version",
                   "updated_at")
    column_labels = {
        "key": _l("Key"), "name": _l("Name"), "kind": _l("Kind"), "status": _l("Status"),
        "priority": _l("Priority"), "step_count": _l("Steps"), "version": _l("Version"),
        "updated_at": _l("Updated"), "description": _l("Description"),
        "members": _l("Members"), "departments": _l("Departments"),
        "trigger_event": _l("Started by event (playbooks)"),
        "entry_window_hours": _l("Entry window (hours)"), "batch_size": _l("Batch size"),
        "batch_interval_minutes": _l("Batch interval (minutes)"),
        "conversion_days": _l("Conversion window (days)"),
        "holdout_percent": _l("Holdout (percent of entrants never messaged)"),
        "early_end_add_tags": _l("Then add tags"), "early_end_flow_to": _l("Then flow to"),
        "normal_end_add_tags": _l("Then add tags"), "normal_end_flow_to": _l("Then flow to"),
        "steps": _l("Step"), "target": _l("Target"), "early_end_when": _l("Early end when"),
    }
    column_sortable_list = ("key", "name", "kind", "status", "priority", "updated_at")
    column_default_sort = ("priority", True)
    column_searchable_list = ("key", "name")
    column_filters = (
        FilterEqual(Sop.kind, _l("Kind"), options=list(KIND_LABELS.items())),
        FilterEqual(Sop.status, _l("Status"), options=list(STATUS_LABELS.items())),
    )
    column_formatters = {
        "kind": labelled(KIND_LABELS), "status": sop_status,
        "step_count": lambda v, c, m, n: len(m.steps),
        "version": version_link,
    }
    column_details_list = ("key", "name", "kind", "status", "description", "priority",
                           "members", "departments", "target", "trigger_event",
                           "entry_window_hours", "batch_size", "batch_interval_minutes",
                           "conversion_days", "holdout_percent", "steps", "early_end_when",
                           "early_end_add_tags", "early_end_flow_to", "normal_end_add_tags",
                           "normal_end_flow_to", "version", "updated_at")
    column_formatters_detail = {"version": version_link, "target": pretty_json,
                                "kind": labelled(KIND_LABELS),
                                "status": labelled(STATUS_LABELS),
                                "early_end_flow_to": flow_target, "normal_end_flow_to": flow_target,
                                "early_end_when": pretty_json,
                                "early_end_add_tags": pretty_json,
                                "normal_end_add_tags": pretty_json}

    form_columns = (
        "key", "name", "kind", "status", "description", "priority",
        "members", "departments", "target_sources", "target_tags_any", "target_tags_all",
        "target_tags_none", "target_segment", "target_stages", "target_churn_status",
        "trigger_event", "entry_window_hours", "batch_size", "batch_interval_minutes",
        "conversion_days", "holdout_percent",
        "early_end_tags_any", "early_end_stages", "early_end_churn_status",
        "early_end_add_tags", "early_end_flow_to", "normal_end_add_tags", "normal_end_flow_to",
    )
    form_extra_fields = {
        "status": ReadOnlyField(_l("Status"), default="draft", labels=STATUS_LABELS,
                                description=_l("Changed by start / pause / resume / end")),
        "target_sources": FreeNamesField(_l("Sources"), json_key=("target", "sources"),
                                         description=_l("Any of these channels")),
        "target_tags_any": tag_list(_l("Has any of these tags"), ("target", "tags_any")),
        "target_tags_all": tag_list(_l("Has all of these tags"), ("target", "tags_all")),
        "target_tags_none": tag_list(_l("Has none of these tags"), ("target", "tags_none")),
        "target_segment": NameChoiceField(_l("Segment"), choices=segment_choices,
                                          json_key=("target", "segment")),
        "target_stages": NameListField(_l("Lifecycle stages"), choices=lifecycle_stages,
                                       json_key=("target", "stages")),
        "target_churn_status": NameListField(_l("Churn status"), choices=churn_choices,
                                             json_key=("target", "churn_status")),
        "early_end_tags_any": tag_list(_l("When the customer gets any of these tags"),
                                       ("early_end_when", "tags_any")),
        "early_end_stages": NameListField(_l("Or reaches one of these stages"),
                                          choices=lifecycle_stages,
                                          json_key=("early_end_when", "stages")),
        "early_end_churn_status": NameListField(_l("Or gets one of these churn statuses"),
                                                choices=churn_choices,
                                                json_key=("early_end_when", "churn_status")),
    }
    form_choices = {"kind": list(KIND_LABELS.items()),
                    "trigger_event": list(EVENT_LABELS.items())}
    form_overrides = {"early_end_add_tags": NameListField, "normal_end_add_tags": NameListField,
                      "description": TextAreaField, "key": StringField}
    form_args = {
        "early_end_add_tags": {"choices": tag_names},
        "normal_end_add_tags": {"choices": tag_names},
        "members": {"query_factory": lambda: db.session.query(Employee)
                    .order_by(Employee.userid),
                    "description": _l("Empty means every employee")},
        "departments": {"query_factory": lambda: db.session.query(Department)
                        .order_by(Department.name)},
        "early_end_flow_to": {"get_label": sop_label},
        "normal_end_flow_to": {"get_label": sop_label},
    }
    inline_models = (StepInline(SopStep),)
    form_rules = (  # four steps, paged by static/editors/sop_wizard.js
        CsrfRule(),
        WizardPane(1, _l("Basics and target"), (
            rules.FieldSet(("key", "name", "kind", "status", "description", "priority"),
                           _l("Basics")),
            rules.FieldSet(("members", "departments", "target_sources", "target_tags_any",
                            "target_tags_all", "target_tags_none", "target_segment",
                            "target_stages", "target_churn_status"), _l("Target")),
            rules.FieldSet(("trigger_event", "entry_window_hours", "batch_size",
                            "batch_interval_minutes", "conversion_days", "holdout_percent"),
                           _l("Entry, batches and effect analysis")),
        )),
        WizardPane(2, _l("Steps"), (
            rules.FieldSet(("steps",), _l("Steps (they run in order of day and time)")),
        )),
        WizardPane(3, _l("End rules"), (
            rules.FieldSet(("early_end_tags_any", "early_end_stages", "early_end_churn_status",
                            "early_end_add_tags", "early_end_flow_to"), _l("Early end")),
            rules.FieldSet(("normal_end_add_tags", "normal_end_flow_to"), _l("Normal end")),
        )),
        ReviewPane(4, _l("Review and save")),
    )
    step_action_labels = ACTION_LABELS  # the review names each step's action

    def get_query(self):
        return super().get_query().options(selectinload(Sop.steps))

    # --- forms ----------------------------------------------------------------
    def get_edit_form(self):
        class EditForm(super().get_edit_form()):
            key = ReadOnlyField(_l("Key"))  # the stable identifier never changes
        return EditForm

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        others = db.session.query(Sop).filter(Sop.id != obj.id).order_by(Sop.key)
        form.early_end_flow_to.query = others  # an SOP never flows into itself
        form.normal_end_flow_to.query = others
        return form

    # --- the editor's steps ask the server before moving on --------------------
    @expose("/check/", methods=("POST",))
    def check_view(self):
        """The posted form validated as a save would, nothing saved (sop_wizard.py)."""
        stored = self.get_one(request.args["id"]) if request.args.get("id") else None
        if not (self.can_edit if stored is not None else self.can_create):
            abort(403)
        return check_response(self, stored, review=request.args.get("review") == "1")

    @expose("/material-thumb/")
    def material_thumb_view(self):
        return material_thumbnail(request.args.get("id", ""))

    # --- checks ---------------------------------------------------------------
    config_validator = staticmethod(validate_sop)

    def to_config(self, form) -> dict:
        return sop_to_config(form)

    def problem_fields_for(self, form) -> dict:
        """A lock on the target names the target fields that were changed."""
        def changed(f):
            from config_io.importer import sop_to_dict

            stored = sop_to_dict(f._obj)["target"] if f._obj is not None else {}
            return changed_target_fields(f, stored)

        return SOP_FIELDS | {"target": TARGET_FIELDS | {"": changed}}

    # --- saving ----------------------------------------------------------------
    def on_model_change(self, form, model: Sop, is_created: bool) -> None:
        from config_io.importer import normalise_condition, record_sop_version, variants_of

        model.target = normalise_condition(model.target)
        model.early_end_when = normalise_condition(model.early_end_when)
        for step in model.steps:
            step.at_time = parse_at(step.at_time) or step.at_time
            step.variants = variants_of({"variants": step.variants}) \
                if step.action == "message" else None
        renumbering = Renumbering(db.session)
        # Steps run in order of due time, so their positions follow (day, at).
        model.steps = renumbering.number(model.steps, key=lambda s: (s.day, s.at_time))
        renumbering.finish()
        record_sop_version(db.session, model)

    def on_model_delete(self, model: Sop) -> None:
        if model.status != "draft":
            raise ValidationError(str(_l("Only a draft SOP can be deleted; end it instead.")))
        referrers = db.session.scalar(select(func.count()).select_from(Sop).where(
            (Sop.early_end_flow_to_id == model.id) | (Sop.normal_end_flow_to_id == model.id)))
        if referrers:
            raise ValidationError(str(_l("Other SOPs flow into this one; change them first.")))
