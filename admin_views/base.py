"""The one secured base every admin screen stands on.

A view declares who may open it (`roles`), who may write (`write_roles`) and how
its rows are narrowed for the current user (`scope`). Login, roles, CSRF and the
row filter are enforced here, so a screen cannot forget them.
"""
from __future__ import annotations

from flask import abort, has_request_context, redirect, request, url_for
from flask_admin import AdminIndexView
from flask_admin.contrib.sqla import ModelView
from flask_admin.form import BaseForm
from flask_login import current_user
from flask_wtf import FlaskForm

from models import db


class CsrfForm(BaseForm):
    """Flask-Admin's form base with Flask-WTF's CSRF token (checked by CSRFProtect too)."""

    class Meta(FlaskForm.Meta, BaseForm.Meta):
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
        super().__init__(model, db.session, name=name, category=category,
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
