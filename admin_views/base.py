"""The one secured base every admin screen stands on.

A view declares who may open it (`roles`), who may write (`write_roles`) and how
its rows are narrowed for the current user (`scope`). Login, roles, CSRF and the
row filter are enforced here, so a screen cannot forget them.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from flask import abort, flash, has_request_context, redirect, request, url_for
from flask_admin import AdminIndexView
from flask_admin.contrib.sqla import ModelView
from flask_admin.form import BaseForm, Select2TagsField, Select2Widget, rules
from flask_babel import gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import inspect as sa_inspect
from wtforms import SelectField, SelectMultipleField, StringField

from models import db


class CsrfForm(BaseForm):
    """Flask-Admin's form base with Flask-WTF's CSRF token (checked by CSRFProtect too)."""

    # Flask-Admin's Meta first: WTForms merges the Metas of every base in MRO order.
    class Meta(BaseForm.Meta, FlaskForm.Meta):
        csrf = True

        def wrap_formdata(self, form, formdata):
            return formdata


def current_role() -> str | None:
    if has_request_context() and current_user.is_authenticated:
        return current_user.role
    return None


def deny():
    """Anonymous visitors go to the login page; signed-in users without the role get 403."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path))
    abort(403)


class SecuredIndexView(AdminIndexView):
    def is_accessible(self) -> bool:
        return current_user.is_authenticated

    def inaccessible_callback(self, name, **kwargs):
        return deny()


class SecuredModelView(ModelView):
    roles: tuple[str, ...] = ("admin",)  # may open the screen
    write_roles: tuple[str, ...] = ("admin",)  # may create/edit/delete
    create_roles: tuple[str, ...] | None = None  # defaults to write_roles
    delete_roles: tuple[str, ...] | None = None  # defaults to write_roles

    form_base_class = CsrfForm
    page_size = 50
    can_set_page_size = True
    can_view_details = True
    action_disallowed_list: list[str] = []

    def __init__(self, model, name=None, category=None, endpoint=None, **kwargs):
        super().__init__(model, db, name=name, category=category,
                         endpoint=endpoint, **kwargs)

    # --- access ---------------------------------------------------------
    def is_accessible(self) -> bool:
        return current_role() in self.roles

    def inaccessible_callback(self, name, **kwargs):
        return deny()

    def _may(self, roles) -> bool:
        role = current_role()
        return role is None or role in roles  # outside a request: build everything

    @property
    def can_edit(self) -> bool:
        return self._may(self.write_roles)

    @property
    def can_create(self) -> bool:
        return self._may(self.create_roles if self.create_roles is not None
                         else self.write_roles)

    @property
    def can_delete(self) -> bool:
        return self._may(self.delete_roles if self.delete_roles is not None
                         else self.write_roles)

    @can_edit.setter
    def can_edit(self, value):  # Flask-Admin assigns defaults; roles decide instead
        pass

    @can_create.setter
    def can_create(self, value):
        pass

    @can_delete.setter
    def can_delete(self, value):
        pass

    # --- row filters ----------------------------------------------------
    def scope(self, query):
        """Narrow a query to the rows the current user may see (override per view)."""
        return query

    def get_query(self):
        return self.scope(super().get_query())

    def get_count_query(self):
        return self.scope(super().get_count_query())

    def get_one(self, id):
        model = self.get_query().filter(
            self.model.id == self.model.id.type.python_type(id)).one_or_none() \
            if hasattr(self.model, "id") else super().get_one(id)
        if model is None:
            abort(404)
        return model

    # --- forms --------------------------------------------------------------
    def edit_form(self, obj=None):
        """Fields kept inside a JSON column (`json_key`) are filled from it on first show."""
        form = super().edit_form(obj)  # Flask-Admin keeps `obj` as form._obj
        form.is_model_form = True
        if obj is not None and request.method == "GET":
            for field in form:
                if getattr(field, "json_key", None):
                    field.load_from(obj)
        return form

    def create_form(self, obj=None):
        form = super().create_form(obj)
        form.is_model_form = True
        return form

    # Inline lists add rows without a position until on_model_change numbers them:
    # an autoflush in between (a select field's query) would insert them half-made.
    def create_model(self, form):
        with db.session.no_autoflush:
            return super().create_model(form)

    def update_model(self, form, model):
        with db.session.no_autoflush:
            return super().update_model(form, model)

    @staticmethod
    def is_model_form(form) -> bool:
        """True for the create/edit form (not the delete, action or list forms)."""
        return getattr(form, "is_model_form", False) is True


# --- fields -----------------------------------------------------------------------
def _blank(value) -> bool:
    return value is None or value == "" or value == [] or value == ()


class JsonKeyMixin:
    """A field stored as one key of a JSON column: `json_key=("target", "sources")`.

    Without `json_key` the field reads and writes its own column as usual.
    """

    def __init__(self, *args, json_key: tuple[str, str] | None = None, **kwargs):
        self.json_key = json_key
        super().__init__(*args, **kwargs)

    def load_from(self, obj) -> None:
        column, key = self.json_key
        self.process(None, (getattr(obj, column) or {}).get(key))

    def stored_value(self):
        """What is written: a blank value is stored as None."""
        return None if _blank(self.data) else self.data

    def populate_obj(self, obj, name):
        if not self.json_key:
            setattr(obj, name, self.stored_value())
            return
        column, key = self.json_key
        values = dict(getattr(obj, column) or {})
        if _blank(self.data):
            values.pop(key, None)
        else:
            values[key] = self.stored_value()
        setattr(obj, column, values)


class NameListField(JsonKeyMixin, SelectMultipleField):
    """Several names picked from `choices` (tags, stages, statuses); data is a list."""

    widget = Select2Widget(multiple=True)

    def stored_value(self):
        return list(self.data or [])

    def process_data(self, value):
        self.data = [str(v) for v in value] if isinstance(value, (list, tuple)) else \
            ([str(value)] if value not in (None, "") else [])


class FreeNamesField(JsonKeyMixin, Select2TagsField):
    """Free-text names typed as tags (e.g. customer sources); data is a list."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("save_as_list", True)
        super().__init__(*args, **kwargs)

    def stored_value(self):
        return list(self.data or [])

    def process_data(self, value):
        self.data = [str(v) for v in value] if isinstance(value, (list, tuple)) else []


class NameChoiceField(JsonKeyMixin, SelectField):
    """One name from `choices` (values or (value, label) pairs), or with `blank` nothing,
    stored as None."""

    widget = Select2Widget()

    def __init__(self, label=None, validators=None, choices=None, blank=True, **kwargs):
        def listed():
            items = choices() if callable(choices) else choices
            pairs = [c if isinstance(c, tuple) else (c, c) for c in items]
            return [("", "—")] + pairs if blank else pairs

        super().__init__(label, validators, choices=listed, **kwargs)

    def process_data(self, value):
        self.data = "" if value is None else str(value)


class ReadOnlyField(StringField):
    """Shows the stored value; whatever the browser sends is ignored and nothing is written."""

    def __init__(self, label=None, **kwargs):
        kwargs.setdefault("render_kw", {"readonly": True})
        super().__init__(label, **kwargs)

    def process_formdata(self, valuelist):
        pass

    def populate_obj(self, obj, name):
        pass


class CsrfRule(rules.BaseRule):
    """Keeps the CSRF field in a form rule set (the page renders the token itself)."""

    @property
    def visible_fields(self) -> list[str]:
        return ["csrf_token"]

    def __call__(self, form, form_opts=None, field_args=None):
        return ""


class LazyOptions:
    """Filter options read from the database each time the list page renders."""

    def __init__(self, load):
        self.load = load

    def __iter__(self):
        return iter(self.load())

    def __bool__(self) -> bool:
        return True


# --- problems from the shared config rules, shown on the form fields ---------------
class Inline(NamedTuple):
    """A list in the config shape that is an inline list field on the form."""

    field: str
    spec: dict


PATH_TOKENS = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def live_entries(field) -> list:
    """Entries of an inline list that are not marked for deletion, in form order."""
    return [e for e in field.entries if not field.should_delete(e)]


def _fields_for(form, tokens: list, spec: dict) -> list:
    if not tokens:
        default = spec.get("")
        return default(form) if callable(default) else \
            [form._fields[default]] if default in form._fields else []
    index, name = tokens[0]
    target = spec.get(name) if name else None
    rest = tokens[1:]
    if callable(target):
        return target(form)
    if isinstance(target, str):
        return [form._fields[target]] if target in form._fields else []
    if isinstance(target, dict):
        return _fields_for(form, rest, target)
    if isinstance(target, Inline) and target.field in form._fields:
        field = form._fields[target.field]
        if rest and rest[0][0]:
            entries = live_entries(field)
            position = int(rest[0][0])
            if position < len(entries):
                return _fields_for(entries[position].form, rest[1:], target.spec) or [field]
        return [field]
    return []


def problem_text(problem) -> str:
    """The message in the user's language (the rules keep a template and its params)."""
    localized = getattr(problem, "localized", None)
    return localized(gettext) if localized else problem.message


def show_problems(form, problems, spec: dict) -> None:
    """Put each problem's message on the form field its path names; flash the rest.

    `spec` mirrors the config shape: a name maps to a form field name, a nested
    dict, an `Inline` (a list shown as an inline list field), or a callable(form)
    returning fields; "" names the field for the mapping itself.
    """
    for problem in problems:
        tokens = PATH_TOKENS.findall(problem.path)
        fields = _fields_for(form, tokens, spec) if tokens else []
        for field in fields:
            if not isinstance(field.errors, list):
                field.errors = list(field.errors)
            field.errors.append(problem_text(problem))
        if not fields:
            where = f"{problem.path}: " if problem.path else ""
            flash(where + problem_text(problem), "error")


def compact(d: dict) -> dict:
    """Drop blank values so a dict built from a form looks like a config document."""
    return {k: v for k, v in d.items() if not _blank(v) and v != {}}


# --- positions ----------------------------------------------------------------------
class Renumbering:
    """Number child rows 0..n-1 without tripping UNIQUE(parent, position).

    When a new number is still held in the database by another row (a reorder, or
    a row being deleted), all rows of that list move to negative numbers first;
    `finish()` flushes once and gives them their final numbers.
    """

    def __init__(self, session):
        self.session = session
        self.deferred: list[list] = []

    def number(self, rows, key=None) -> list:
        """Rows not being deleted, sorted by `key` if given, numbered; returns them."""
        kept = [r for r in rows if not self.is_deleted(r)]
        if key is not None:
            kept.sort(key=key)
        held = {r.position: r for r in rows if sa_inspect(r).persistent}
        if any(held.get(i, row) is not row for i, row in enumerate(kept)):
            for i, row in enumerate(kept):
                row.position = -(i + 1)
            self.deferred.append(kept)
        else:
            for i, row in enumerate(kept):
                row.position = i
        return kept

    def is_deleted(self, row) -> bool:
        """Marked for deletion, whether or not an autoflush has deleted it already."""
        return row in self.session.deleted or sa_inspect(row).deleted

    def finish(self) -> None:
        if not self.deferred:
            return
        self.session.flush()
        for kept in self.deferred:
            for i, row in enumerate(kept):
                row.position = i
        self.deferred = []
