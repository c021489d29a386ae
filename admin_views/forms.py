"""Form machinery shared by the admin screens.

Fields that keep their value in a JSON column, choice fields that refuse what is
not offered, a write-only field for secrets and passwords, the mapping of config
rule problems onto form fields, and renumbering of inline child rows.
"""
from __future__ import annotations

import re
from typing import NamedTuple

import yaml
from flask import flash
from flask_admin.contrib.sqla.fields import QuerySelectField
from flask_admin.contrib.sqla.form import AdminModelConverter
from flask_admin.form import BaseForm, Select2TagsField, Select2Widget, rules
from flask_admin.model.fields import AjaxSelectField
from flask_babel import gettext
from flask_wtf import FlaskForm
from sqlalchemy import inspect as sa_inspect
from wtforms import PasswordField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import ValidationError

from jobs.core.config_rules import Checker


class CsrfForm(BaseForm):
    """Flask-Admin's form base with Flask-WTF's CSRF token (checked by CSRFProtect too)."""

    # Flask-Admin's Meta first: WTForms merges the Metas of every base in MRO order.
    class Meta(BaseForm.Meta, FlaskForm.Meta):
        csrf = True

        def wrap_formdata(self, form, formdata):
            return formdata


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

    def __init__(self, label=None, labels: dict | None = None, **kwargs):
        kwargs.setdefault("render_kw", {"readonly": True})
        self.labels = labels or {}  # stored code -> what the user reads
        super().__init__(label, **kwargs)

    def _value(self) -> str:
        return str(self.labels.get(self.data, super()._value()))

    def process_formdata(self, valuelist):
        pass

    def populate_obj(self, obj, name):
        pass


class WriteOnlyField(PasswordField):
    """Secrets and passwords: the stored value is never put in the page; blank keeps it.

    `store(obj, value)` writes a new value (default: the attribute of the same name).
    """

    def __init__(self, label=None, validators=None, store=None, **kwargs):
        self.store = store
        super().__init__(label, validators, **kwargs)

    def process_data(self, value):
        self.data = ""

    def populate_obj(self, obj, name):
        if not self.data:
            return
        if self.store is not None:
            self.store(obj, self.data)
        else:
            setattr(obj, name, self.data)


class YamlListField(TextAreaField):
    """A list kept in a JSON column, edited as YAML (a message step's A/B variants):
    blank is none; text that is not YAML is refused on the field, the list itself is
    checked by the config rules like an import."""

    def process_data(self, value):
        self.data, self.raw, self.parse_error = value or None, None, None

    def _value(self) -> str:
        if self.raw is not None:
            return self.raw
        if not self.data:
            return ""
        return yaml.safe_dump(self.data, allow_unicode=True, sort_keys=False,
                              default_flow_style=None, width=100)

    def process_formdata(self, valuelist):
        self.raw, self.parse_error = (valuelist[0] if valuelist else ""), None
        if not self.raw.strip():
            self.data = None
            return
        try:
            self.data = yaml.safe_load(self.raw)
        except yaml.YAMLError as exc:
            self.data, self.parse_error = None, str(getattr(exc, "problem", exc))

    def pre_validate(self, form):
        if self.parse_error:
            raise ValidationError(gettext("Not valid YAML: %(problem)s",
                                          problem=self.parse_error))


# --- relationship selects: an id that is not offered is an error, not a blank -------
class StrictChoice:
    """Flask-Admin saves an unknown id in a nullable select as blank; refuse it instead."""

    def pre_validate(self, form):
        if self.data is None and self._formdata:  # an id that matched no offered row
            raise ValidationError(self.gettext("Not a valid choice"))
        super().pre_validate(form)


class StrictQuerySelectField(StrictChoice, QuerySelectField):
    pass


class StrictAjaxSelectField(StrictChoice, AjaxSelectField):
    def _get_data(self):
        if self._formdata and not str(self._formdata).isdigit():
            return self._data  # our ids are integers: PostgreSQL would fail on `abc`
        return super()._get_data()

    data = property(_get_data, AjaxSelectField._set_data)


STRICT = {QuerySelectField: StrictQuerySelectField, AjaxSelectField: StrictAjaxSelectField}


class StrictModelConverter(AdminModelConverter):
    """Builds single relationship selects (forms and inline rows) as strict fields."""

    def _model_select_field(self, prop, multiple, remote_model, **kwargs):
        unbound = super()._model_select_field(prop, multiple, remote_model, **kwargs)
        if unbound.field_class is QuerySelectField:
            # the empty choice reads "—"; blank, Select2 showed its value "__None"
            unbound.kwargs.setdefault("blank_text", "—")
        unbound.field_class = STRICT.get(unbound.field_class, unbound.field_class)
        return unbound


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


def item_validator(rule):
    """A catalogue rule `check_*(checker, item, path)` as a validator `(item, known)`."""
    def validate(item: dict, known) -> list:
        checker = Checker(known)
        rule(checker, item, "")
        return checker.problems

    return validate
