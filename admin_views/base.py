"""The one secured base every admin screen stands on.

A view declares who may open it (`roles`), who may write (`write_roles`) and how
its rows are narrowed for the current user (`scope`). Login, roles, CSRF and the
row filter are enforced here, so a screen cannot forget them.
"""
from __future__ import annotations

from datetime import datetime

from flask import abort, has_request_context, redirect, request, url_for
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.model import typefmt
from flask_login import current_user

from admin_views.choices import local_minutes
from admin_views.forms import CsrfForm, StrictModelConverter, show_problems
from models import db


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


class SecuredView(BaseView):
    """A screen that is not a model list (the inbox): the same login and `roles` gate."""

    roles: tuple[str, ...] = ("admin",)  # may open the screen

    def is_accessible(self) -> bool:
        return current_role() in self.roles

    def inaccessible_callback(self, name, **kwargs):
        return deny()


class SecuredModelView(ModelView):
    roles: tuple[str, ...] = ("admin",)  # may open the screen
    write_roles: tuple[str, ...] = ("admin",)  # may create/edit/delete
    create_roles: tuple[str, ...] | None = None  # defaults to write_roles
    delete_roles: tuple[str, ...] | None = None  # defaults to write_roles

    form_base_class = CsrfForm
    model_form_converter = StrictModelConverter  # unknown ids in selects are refused
    column_type_formatters = typefmt.BASE_FORMATTERS | {datetime: local_minutes}
    column_type_formatters_detail = typefmt.DETAIL_FORMATTERS | {datetime: local_minutes}
    page_size = 50
    can_set_page_size = True
    list_template = "admin/model_list.html"  # the pager says how much there is
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
        """The row with this id among those the user may see; 404 otherwise (also for
        an id that is not a number)."""
        if not hasattr(self.model, "id"):
            model = super().get_one(id)
        else:
            try:
                key = self.model.id.type.python_type(id)
            except (TypeError, ValueError):
                abort(404)
            model = self.get_query().filter(self.model.id == key).one_or_none()
        if model is None:
            abort(404)
        return model

    @expose("/ajax/lookup/")
    def ajax_lookup(self):
        """Select2 lookups list other rows (e.g. every employee): only for a user who may
        fill in the form they serve, not for everyone who may open the screen."""
        if not (self.can_create or self.can_edit):
            abort(403)
        return super().ajax_lookup()

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

    # --- checks by the shared config rules -------------------------------------
    # A screen whose form is configuration names its validator, `validate_*(config,
    # known) -> problems` of jobs/core/config_rules.py, builds the config-shaped dict
    # (`to_config`) and says which form field each config key is (`problem_fields`).
    config_validator = None
    problem_fields: dict = {}

    def to_config(self, form) -> dict:
        raise NotImplementedError

    def problem_fields_for(self, form) -> dict:
        return self.problem_fields

    def validate_form(self, form) -> bool:
        if not super().validate_form(form):
            return False
        if not self.is_model_form(form) or self.config_validator is None:
            return True
        return self.check_with_rules(form, self.to_config(form))

    def check_with_rules(self, form, config: dict) -> bool:
        """Check `config` with the screen's validator and put each problem on its field."""
        from config_io.importer import known_from_db

        problems = self.config_validator(config, known_from_db(db.session))
        show_problems(form, problems, self.problem_fields_for(form))
        db.session.rollback()  # reading what is known may have touched the session
        return not problems
