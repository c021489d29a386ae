"""Content screens: tags, segments (人群包) and materials (素材), for admin and ops.

Each form is checked with the catalogue rules of config as code, and an item that
SOPs or journeys still use cannot be deleted (their configuration names it).
"""
from __future__ import annotations

import os
import uuid
from datetime import date

from flask import current_app
from flask_admin.form import FileUploadField, rules
from flask_babel import gettext, lazy_gettext as _l, ngettext
from sqlalchemy import exists, func, select
from werkzeug.utils import secure_filename
from wtforms import DateField, StringField, TextAreaField
from wtforms.validators import ValidationError

from admin_views.base import SecuredModelView
from admin_views.choices import (
    CHURN_LABELS, CONFIG_ROLES, TIER_LABELS, churn_choices, lifecycle_stages, tag_names,
)
from admin_views.forms import (
    CsrfRule, FreeNamesField, JsonKeyMixin, NameListField, ReadOnlyField, item_validator,
)
from jobs.core.config_rules import check_material, check_segment, check_tag
from jobs.core.media import upload_problem
from models import CustomerTag, Department, Employee, Journey, Segment, Sop, SopStep, db
from models.journeys import reminder_attachments
from models.sops import step_attachments

TAG_LISTS = ("tags_any", "tags_all", "tags_none", "add_tags", "remove_tags")
UPLOAD_EXTENSIONS = ("png", "jpg", "jpeg", "gif", "webp", "pdf", "doc", "docx", "xls", "xlsx",
                     "ppt", "pptx", "txt")
MATERIAL_LABELS = {"text": _l("Text"), "link": _l("Article link"), "image": _l("Image"),
                   "file": _l("File"), "miniprogram": _l("Mini-program card")}


class CatalogView(SecuredModelView):
    roles = CONFIG_ROLES
    write_roles = CONFIG_ROLES

    def get_edit_form(self):
        """The key (a tag's name) names the item in SOPs and journeys: fixed once created."""
        key = self.key_field

        class EditForm(super().get_edit_form()):
            pass

        setattr(EditForm, key, ReadOnlyField(self.column_labels[key]))
        return EditForm

    def used_by(self, model) -> list[str]:
        return []

    def on_model_delete(self, model) -> None:
        users = self.used_by(model)
        if users:
            raise ValidationError(str(_l("Still used by: %(users)s", users=", ".join(users))))


# --- tags ------------------------------------------------------------------------------
def names_tag(value, name: str) -> bool:
    """Whether a config-shaped value lists the tag `name` in one of its tag lists."""
    if isinstance(value, dict):
        return any((key in TAG_LISTS and isinstance(v, list) and name in v)
                   or names_tag(v, name) for key, v in value.items())
    if isinstance(value, list):
        return any(names_tag(v, name) for v in value)
    return False


class TagView(CatalogView):
    config_validator = staticmethod(item_validator(check_tag))
    key_field = "name"
    column_list = ("name", "group_name")
    column_labels = {"name": _l("Name"), "group_name": _l("Group")}
    column_searchable_list = ("name", "group_name")
    column_sortable_list = ("name", "group_name")
    column_default_sort = "name"
    form_columns = ("name", "group_name")
    problem_fields = {"name": "name", "group": "group_name"}

    def to_config(self, form) -> dict:
        stored = form._obj
        return {"name": stored.name if stored else form.name.data,
                "group": form.group_name.data or None}

    def on_model_delete(self, tag) -> None:
        """Deleting would strip the tag from its customers without history or audit."""
        carried = db.session.scalar(select(func.count()).select_from(CustomerTag)
                                    .where(CustomerTag.tag_id == tag.id))
        if carried:
            raise ValidationError(ngettext(
                "%(num)d customer carries this tag; remove it from them first.",
                "%(num)d customers carry this tag; remove it from them first.", carried))
        super().on_model_delete(tag)

    def used_by(self, tag) -> list[str]:
        from config_io.importer import journey_to_dict, sop_to_dict

        users = [str(_l("SOP %(key)s", key=s.key)) for s in db.session.scalars(select(Sop))
                 if names_tag(sop_to_dict(s), tag.name)]
        users += [str(_l("journey %(key)s", key=j.key))
                  for j in db.session.scalars(select(Journey))
                  if names_tag(journey_to_dict(j), tag.name)]
        users += [str(_l("segment %(key)s", key=s.key))
                  for s in db.session.scalars(select(Segment))
                  if names_tag(s.filter or {}, tag.name)]
        return users


# --- segments ------------------------------------------------------------------------------
class IsoDateField(JsonKeyMixin, DateField):
    """A date kept as "YYYY-MM-DD" text inside a JSON column."""

    def process_data(self, value):
        self.data = date.fromisoformat(value) if isinstance(value, str) and value else value

    def stored_value(self):
        return self.data.isoformat() if self.data else None


def employee_userids():
    return [(e.userid, str(e)) for e in db.session.scalars(
        select(Employee).order_by(Employee.userid))]


def department_names():
    return list(db.session.scalars(select(Department.name).order_by(Department.name)))


SEGMENT_FILTER_FIELDS = {
    "sources": "filter_sources", "tags_any": "filter_tags_any", "tags_all": "filter_tags_all",
    "tags_none": "filter_tags_none", "stages": "filter_stages",
    "churn_status": "filter_churn_status", "tiers": "filter_tiers", "owners": "filter_owners",
    "departments": "filter_departments", "added_from": "filter_added_from",
    "added_to": "filter_added_to",
}


def in_filter(field_class, label, key, **kwargs):
    return field_class(label, json_key=("filter", key), **kwargs)


def filter_sentence(view, context, model, name) -> str:
    """A segment's filter as people read it ("层级：高价值、潜力 · 流失状态：正常"), each
    part named by its form field and coded values shown by their labels."""
    shown = {"tiers": TIER_LABELS, "churn_status": CHURN_LABELS}
    parts = []
    for key, value in (model.filter or {}).items():
        field = SegmentView.form_extra_fields.get(SEGMENT_FILTER_FIELDS.get(key, ""))
        label = field.args[0] if field is not None and field.args else key
        values = value if isinstance(value, list) else [value]
        labels = shown.get(key, {})
        parts.append(str(_l("%(field)s: %(values)s", field=label,
                            values="、".join(str(labels.get(v, v)) for v in values))))
    return " · ".join(parts)


class SegmentView(CatalogView):
    config_validator = staticmethod(item_validator(check_segment))
    key_field = "key"
    column_list = ("key", "name", "filter")
    column_labels = {"key": _l("Key"), "name": _l("Name"), "filter": _l("Filter")}
    column_formatters = {"filter": filter_sentence}
    column_searchable_list = ("key", "name")
    form_columns = ("key", "name", *SEGMENT_FILTER_FIELDS.values())
    form_overrides = {"key": StringField}
    form_extra_fields = {
        "filter_sources": in_filter(FreeNamesField, _l("Sources"), "sources"),
        "filter_tags_any": in_filter(NameListField, _l("Has any of these tags"), "tags_any",
                                     choices=tag_names),
        "filter_tags_all": in_filter(NameListField, _l("Has all of these tags"), "tags_all",
                                     choices=tag_names),
        "filter_tags_none": in_filter(NameListField, _l("Has none of these tags"),
                                      "tags_none", choices=tag_names),
        "filter_stages": in_filter(NameListField, _l("Lifecycle stages"), "stages",
                                   choices=lifecycle_stages),
        "filter_churn_status": in_filter(NameListField, _l("Churn status"), "churn_status",
                                         choices=churn_choices),
        "filter_tiers": in_filter(NameListField, _l("Tiers"), "tiers",
                                  choices=lambda: list(TIER_LABELS.items())),
        "filter_owners": in_filter(NameListField, _l("Owned by"), "owners",
                                   choices=employee_userids),
        "filter_departments": in_filter(NameListField, _l("Owner in department"),
                                        "departments", choices=department_names),
        "filter_added_from": in_filter(IsoDateField, _l("Added from"), "added_from"),
        "filter_added_to": in_filter(IsoDateField, _l("Added until"), "added_to"),
    }
    form_rules = (CsrfRule(), rules.FieldSet(("key", "name"), _l("Segment")),
                  rules.FieldSet(tuple(SEGMENT_FILTER_FIELDS.values()),
                                 _l("Customers who match all of these")))
    problem_fields = {"key": "key", "name": "name", "filter": SEGMENT_FILTER_FIELDS}

    def to_config(self, form) -> dict:
        stored = form._obj
        values = {key: form[name].stored_value() for key, name in SEGMENT_FILTER_FIELDS.items()}
        return {"key": stored.key if stored else form.key.data, "name": form.name.data,
                "filter": {k: v for k, v in values.items() if v not in (None, [])}}

    def on_model_change(self, form, model, is_created):
        model.filter = dict(model.filter or {})  # a fresh dict: the change is saved

    def used_by(self, segment) -> list[str]:
        return [str(_l("SOP %(key)s", key=s.key)) for s in db.session.scalars(select(Sop))
                if (s.target or {}).get("segment") == segment.key]


# --- materials ---------------------------------------------------------------------------
def upload_folder() -> str:
    return current_app.config["UPLOAD_FOLDER"]


def remove_upload(name: str) -> None:
    """Delete a material's file, but only one that really lies inside the upload folder
    (a stored name like `../x` or a link pointing out must not remove anything else)."""
    folder = os.path.realpath(upload_folder())
    path = os.path.realpath(os.path.join(folder, name))
    if os.path.commonpath([folder, path]) == folder and path != folder \
            and os.path.isfile(path):
        os.remove(path)


class UploadField(FileUploadField):
    """Flask-Admin's upload field, deleting replaced or removed files safely."""

    def _delete_file(self, filename: str) -> None:
        remove_upload(filename)


def unique_upload_name(obj, file_data) -> str:
    """Never overwrite another material's file: a random prefix before a safe name."""
    name = secure_filename(file_data.filename) or "upload"
    if "." not in name and "." in file_data.filename:  # non-ASCII stems vanish
        name = "upload." + file_data.filename.rsplit(".", 1)[1].lower()
    return f"{uuid.uuid4().hex[:12]}-{name}"


class MaterialView(CatalogView):
    config_validator = staticmethod(item_validator(check_material))
    key_field = "key"
    column_list = ("key", "kind", "title", "url", "file_path")
    column_labels = {"key": _l("Key"), "kind": _l("Kind"), "title": _l("Title"),
                     "url": _l("URL"), "content": _l("Content"), "file_path": _l("File")}
    column_searchable_list = ("key", "title")
    column_formatters = {"kind": lambda v, c, m, n: MATERIAL_LABELS.get(m.kind, m.kind)}
    form_columns = ("key", "kind", "title", "url", "content", "file_path")
    form_choices = {"kind": list(MATERIAL_LABELS.items())}
    form_overrides = {"content": TextAreaField, "key": StringField, "file_path": UploadField}
    form_args = {"file_path": {
        "base_path": upload_folder, "namegen": unique_upload_name,
        "allowed_extensions": UPLOAD_EXTENSIONS,
        "description": _l("Images, PDF or office documents")}}
    problem_fields = {"key": "key", "kind": "kind", "title": "title", "url": "url",
                      "content": "content", "file": "file_path"}

    def to_config(self, form) -> dict:
        stored = form._obj
        upload = form.file_path
        has_file = bool(getattr(upload.data, "filename", None)) or bool(
            stored is not None and stored.file_path and not upload._should_delete)
        return {"key": stored.key if stored else form.key.data, "kind": form.kind.data,
                "title": form.title.data, "url": form.url.data or None,
                "content": form.content.data or None, "file": "uploaded" if has_file else None}

    def validate_form(self, form) -> bool:
        """What WeCom would refuse (type, size) is refused on the file field when saved."""
        valid = super().validate_form(form)
        if not valid or not self.is_model_form(form):
            return valid
        upload, stored = form.file_path.data, form._obj
        if getattr(upload, "filename", None):
            upload.stream.seek(0, os.SEEK_END)
            name, size = upload.filename, upload.stream.tell()
            upload.stream.seek(0)
        elif stored is not None and stored.file_path and not form.file_path._should_delete:
            path = os.path.join(upload_folder(), stored.file_path)
            name, size = stored.file_path, os.path.getsize(path) if os.path.isfile(path) else 0
        else:
            return True
        problem = upload_problem(form.kind.data, name, size)
        if problem:
            form.file_path.errors.append(gettext(problem[0]).format(**problem[1]))
            return False
        return True

    def used_by(self, material) -> list[str]:
        used = []
        for table, what in ((step_attachments, _l("SOP steps")),
                            (reminder_attachments, _l("journey reminders"))):
            if db.session.scalar(select(exists().where(table.c.material_id == material.id))):
                used.append(str(what))
        if any(material.key in (v.get("attachments") or [])
               for variants in db.session.scalars(select(SopStep.variants).where(
                   SopStep.variants.is_not(None)))
               for v in variants or []):
            used.append(str(_l("A/B variants")))
        return used

    def after_model_delete(self, model) -> None:
        if model.file_path:  # the row is gone: its file goes too
            remove_upload(model.file_path)
