"""The journey screen: stages inline, each with its rules (and their conditions) and
reminders as nested inline lists, checked by the shared config rules."""
from __future__ import annotations

from flask import flash, request
from flask_admin import expose
from flask_admin.contrib.sqla.form import InlineModelConverter
from flask_admin.form import rules
from flask_admin.model.form import InlineFormAdmin
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import func, select
from wtforms import StringField, TextAreaField
from wtforms.validators import ValidationError

from admin_views.base import SecuredModelView
from admin_views.choices import CONFIG_ROLES, churn_choices, lifecycle_stages, tag_names
from admin_views.forms import (
    CsrfRule, Inline, NameChoiceField, NameListField, ReadOnlyField, Renumbering, compact,
    live_entries,
)
from admin_views.journey_editor import (
    CONDITION_KINDS, REMINDER_KINDS, StageCards, sentence_response,
)
from admin_views.lifecycle import JourneySyncMixin, progress_bar
from jobs.core.config_rules import validate_journey
from models import (
    Journey, JourneyCondition, JourneyPlacement, JourneyReminder, JourneyRule, JourneyStage,
    Material, db,
)

CONDITION_LABELS, REMINDER_LABELS = CONDITION_KINDS, REMINDER_KINDS


def condition_values() -> list[tuple[str, str]]:
    """Lifecycle stages and churn statuses: which one applies depends on the kind."""
    return [(s, s) for s in lifecycle_stages()] + churn_choices()


# --- nested inline lists ----------------------------------------------------------
class NestedInlineConverter(InlineModelConverter):
    """Hands itself to each inline admin, so its form can carry inline lists too."""

    def get_info(self, p):
        info = super().get_info(p)
        info.converter = self
        return info


class NestedInline(InlineFormAdmin):
    inline_converter = NestedInlineConverter
    children: tuple = ()

    def postprocess_form(self, form_class):
        for child in self.children:
            form_class = self.converter.contribute(self.model, form_class, child)
        return form_class


class ConditionInline(NestedInline):
    form_label = _l("Condition")
    form_columns = ("id", "kind", "tags", "value")
    form_overrides = {"kind": NameChoiceField, "tags": NameListField, "value": NameChoiceField}
    form_args = {
        "kind": {"label": _l("Kind"), "choices": list(CONDITION_LABELS.items()),
                 "blank": False},
        "tags": {"label": _l("Tags (any of them)"), "choices": tag_names},
        "value": {"label": _l("Stage or churn status"), "choices": condition_values},
    }


class RuleInline(NestedInline):
    form_label = _l("Rule (all its conditions must hold)")
    form_columns = ("id",)
    children = (ConditionInline(JourneyCondition),)


class ReminderInline(NestedInline):
    form_label = _l("Reminder")
    form_columns = ("id", "day", "hour", "kind", "text", "attachments")
    form_overrides = {"kind": NameChoiceField, "text": TextAreaField}
    form_args = {
        "day": {"label": _l("Day after entering the stage")},
        "hour": {"label": _l("Hour (0-23)")},
        "kind": {"label": _l("Kind"), "choices": list(REMINDER_LABELS.items()), "blank": False},
        "text": {"label": _l("Text")},
        "attachments": {"label": _l("Attachments (at most 9)"),
                        "query_factory": lambda: db.session.query(Material)
                        .order_by(Material.key)},
    }


class StageInline(NestedInline):
    form_label = _l("Stage")
    form_columns = ("id", "key", "name", "description")
    form_args = {"key": {"label": _l("Key")}, "name": {"label": _l("Name")},
                 "description": {"label": _l("Description")}}
    children = (RuleInline(JourneyRule), ReminderInline(JourneyReminder))


def in_form_order(field, rows: list) -> list:
    """Rows in the order of the inline list's entries: stored rows by their id, new rows
    (no id yet) in the order they were added; rows the form did not list stay last."""
    if field is None:  # a switch flipped on the list: no stages in that form
        return list(rows)
    by_id = {row.id: row for row in rows if row.id is not None}
    added = iter([row for row in rows if row.id is None])
    ordered = []
    for entry in live_entries(field):
        pk = entry.form.id.data
        row = by_id.pop(int(pk), None) if str(pk or "").isdigit() else next(added, None)
        if row is not None:
            ordered.append(row)
    return ordered + [row for row in rows if row not in ordered]


# --- the config shape ---------------------------------------------------------------
def condition_to_config(f) -> dict:
    kind = f.kind.data
    if kind == "tags_any":
        return {"tags_any": list(f.tags.data or [])}
    return {kind: f.value.data or None} if kind else {}


def stage_to_config(f) -> dict:
    rules_ = [{"all": [condition_to_config(c.form) for c in live_entries(r.form.conditions)]}
              for r in live_entries(f.rules)]
    reminders = [compact({"kind": r.form.kind.data, "text": r.form.text.data,
                          "attachments": [m.key for m in r.form.attachments.data or []]})
                 | {"day": r.form.day.data, "hour": r.form.hour.data}
                 for r in live_entries(f.reminders)]
    return compact({"key": f.key.data, "name": f.name.data, "description": f.description.data,
                    "rules": rules_, "reminders": reminders})


def journey_to_config(form) -> dict:
    stored = form._obj
    return compact({
        "key": stored.key if stored else form.key.data, "name": form.name.data,
        "description": form.description.data,
        "stages": [stage_to_config(e.form) for e in live_entries(form.stages)],
    }) | {flag: bool(form[flag].data) for flag in
          ("enabled", "automation", "stage_reminders", "followup_reminders")}


CONDITION_FIELDS = {"tags_any": "tags", "stage": "value", "churn_status": "value", "": "kind"}
JOURNEY_FIELDS = {
    "key": "key", "name": "name", "description": "description", "enabled": "enabled",
    "automation": "automation", "stage_reminders": "stage_reminders",
    "followup_reminders": "followup_reminders",
    "stages": Inline("stages", {
        "key": "key", "name": "name", "description": "description", "": "key",
        "rules": Inline("rules", {"all": Inline("conditions", CONDITION_FIELDS)}),
        "reminders": Inline("reminders", {"day": "day", "hour": "hour", "kind": "kind",
                                          "text": "text", "attachments": "attachments",
                                          "": "day"}),
    }),
}


def sync_lock_message(journey: Journey) -> str:
    return str(_l("The journey is syncing its customers (started %(at)s); it cannot be "
                  "changed until the sync has finished.",
                  at=journey.sync_started_at.strftime("%Y-%m-%d %H:%M UTC")))


def syncing(view, context, model, name):
    """When the running sync started, with its progress; blank when none runs."""
    if model.sync_started_at is None:
        return ""
    return Markup("{} {}").format(view.local_time(model.sync_started_at),
                                  progress_bar(view, model, model.sync_progress))


class JourneyView(JourneySyncMixin, SecuredModelView):
    roles = CONFIG_ROLES
    write_roles = CONFIG_ROLES
    edit_template = "admin/journey_edit.html"  # the sync panel above the form
    create_template = "admin/journey_create.html"  # the stages as cards
    details_template = "admin/journey_details.html"
    list_template = "admin/progress_list.html"

    column_list = ("key", "name", "enabled", "automation", "stage_count", "sync_started_at",
                   "synced_at", "updated_at")
    column_labels = {"key": _l("Key"), "name": _l("Name"), "enabled": _l("Enabled"),
                     "automation": _l("Automation"), "stage_count": _l("Stages"),
                     "sync_started_at": _l("Syncing since"), "synced_at": _l("Last synced"),
                     "updated_at": _l("Updated"),
                     "description": _l("Description"),
                     "stage_reminders": _l("Stage reminders"),
                     "followup_reminders": _l("Employee follow-up reminders"),
                     "stages": _l("Stage")}
    column_editable_list = ("enabled", "automation")  # the switches on the list
    column_formatters = {"stage_count": lambda v, c, m, n: len(m.stages),
                         "sync_started_at": syncing}
    column_formatters_detail: dict = {}  # the details page has the sync panel instead
    column_searchable_list = ("key", "name")
    column_details_list = ("key", "name", "description", "enabled", "automation",
                           "stage_reminders", "followup_reminders", "stages",
                           "sync_started_at", "synced_at", "updated_at")
    form_columns = ("key", "name", "description", "enabled", "automation", "stage_reminders",
                    "followup_reminders")
    form_overrides = {"description": TextAreaField, "key": StringField}
    inline_models = (StageInline(JourneyStage),)
    form_rules = (
        CsrfRule(),
        rules.FieldSet(("key", "name", "description"), _l("Journey")),
        rules.FieldSet(("enabled", "automation", "stage_reminders", "followup_reminders"),
                       _l("Switches")),
        rules.FieldSet((StageCards(),), _l("Stages (a customer is in the last matching one)")),
    )

    def get_edit_form(self):
        class EditForm(super().get_edit_form()):
            key = ReadOnlyField(_l("Key"))
        return EditForm

    def customers_per_stage(self, journey: Journey) -> list[tuple[JourneyStage, int]]:
        """Each stage in order with how many customers are in it now (open placements)."""
        counts = dict(db.session.execute(
            select(JourneyPlacement.stage_id, func.count())
            .where(JourneyPlacement.journey_id == journey.id,
                   JourneyPlacement.left_at.is_(None))
            .group_by(JourneyPlacement.stage_id)).all())
        return [(stage, counts.get(stage.id, 0)) for stage in journey.stages]

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if obj is not None and obj.sync_started_at and request.method == "GET":
            flash(sync_lock_message(obj), "warning")
        return form

    @expose("/sentence/", methods=("POST",))
    def sentence_view(self):
        """A stage's rules as a sentence, for its card after an edit."""
        if not self.can_edit:
            return {"error": "forbidden"}, 403
        return sentence_response()

    @expose("/ajax/update/", methods=("POST",))
    def ajax_update(self):
        if not self.can_edit:  # the list switches write like the form does
            return str(_l("You may not change journeys.")), 403
        return super().ajax_update()

    # --- checks ---------------------------------------------------------------
    config_validator = staticmethod(validate_journey)
    problem_fields = JOURNEY_FIELDS

    def to_config(self, form) -> dict:
        return journey_to_config(form)

    def validate_form(self, form) -> bool:
        stored = getattr(form, "_obj", None)
        if self.is_model_form(form) and stored is not None and stored.sync_started_at:
            flash(sync_lock_message(stored), "error")
            return False
        if not super().validate_form(form):  # the form, checked by the config rules
            return False
        if hasattr(form, "list_form_pk"):
            return self._validate_switch(form)
        return True

    def _validate_switch(self, form) -> bool:
        """A switch flipped on the list is checked as the whole journey would be."""
        from config_io.importer import journey_to_dict

        journey = self.get_one(form.list_form_pk.data)
        if journey.sync_started_at:
            next(iter(f for f in form if f.name != "list_form_pk")).errors.append(
                sync_lock_message(journey))
            return False
        config = journey_to_dict(journey)
        for flag in ("enabled", "automation"):
            if flag in form:
                config[flag] = bool(form[flag].data)
        return self.check_with_rules(form, config)

    def on_model_change(self, form, model: Journey, is_created: bool) -> None:
        renumbering = Renumbering(db.session)
        # stages in the order the form lists them (the cards can be moved left and right)
        model.stages = renumbering.number(
            in_form_order(getattr(form, "stages", None), model.stages))
        for stage in model.stages:
            stage.rules = renumbering.number(stage.rules)
            for rule in stage.rules:
                rule.conditions = renumbering.number(rule.conditions)
                for condition in rule.conditions:  # a box of tags has no value, and back
                    if condition.kind == "tags_any":
                        condition.value = None
                    else:
                        condition.tags = []
            stage.reminders = renumbering.number(stage.reminders)
        renumbering.finish()

    def on_model_delete(self, model: Journey) -> None:
        if model.sync_started_at:
            raise ValidationError(sync_lock_message(model))

