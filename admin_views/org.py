"""Organisation: departments, employees (WeCom members) and the users who log in."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l, ngettext
from flask_login import current_user
from sqlalchemy import false, func, select
from wtforms.validators import ValidationError
from wtforms.validators import Optional

from admin_views.base import SecuredModelView
from admin_views.choices import ROLE_LABELS, labelled
from admin_views.forms import NameChoiceField, WriteOnlyField
from jobs.core import vocab as V
from jobs.core.passwords import problems as password_problems
from models import Customer, Department, Employee, Sop, User, db
from models.sops import sop_members


class DepartmentView(SecuredModelView):
    roles = ("admin",)
    write_roles = ("admin",)
    column_list = ("name",)
    column_labels = {"name": _l("Name"), "employees": _l("Employees")}
    column_searchable_list = ("name",)
    form_columns = ("name",)

    def on_model_delete(self, department) -> None:
        count = db.session.scalar(select(func.count(Employee.id))
                                  .where(Employee.department_id == department.id))
        if count:
            raise ValidationError(str(_l(
                "%(name)s cannot be deleted: %(num)d employees belong to it. Move them first.",
                name=department.name, num=count)))


def employee_ties(employee: Employee) -> list[str]:
    """What would lose its employee if this one were deleted, in words."""
    ties = []
    owned = db.session.scalar(select(func.count(Customer.id))
                              .where(Customer.owner_id == employee.id))
    if owned:
        ties.append(ngettext("owns %(num)d customer", "owns %(num)d customers", owned))
    logins = list(db.session.scalars(select(User.username).where(User.employee_id == employee.id)))
    if logins:
        ties.append(_l("is the employee of login %(names)s", names=", ".join(logins)))
    sops = list(db.session.scalars(select(Sop.key).join(sop_members)
                                   .where(sop_members.c.employee_id == employee.id)
                                   .order_by(Sop.key)))
    if sops:
        ties.append(_l("is a member of SOP %(keys)s", keys=", ".join(sops)))
    return ties


class EmployeeView(SecuredModelView):
    """Admin keeps the staff list; a manager reads their own department's."""

    roles = ("admin", "manager")
    write_roles = ("admin",)
    column_list = ("userid", "name", "department", "role", "active")
    column_labels = {"userid": _l("WeCom userid"), "name": _l("Name"),
                     "department": _l("Department"), "role": _l("Role"), "active": _l("Active")}
    column_searchable_list = ("userid", "name")
    column_sortable_list = ("userid", "name")
    column_filters = ("active",)
    column_formatters = {"role": labelled(ROLE_LABELS)}
    form_columns = ("userid", "name", "department", "role", "active")
    form_choices = {"role": [(r, ROLE_LABELS[r]) for r in V.EMPLOYEE_ROLES]}
    form_args = {"department": {"query_factory": lambda: db.session.query(Department)
                                .order_by(Department.name)}}

    def on_model_delete(self, employee) -> None:
        """Customers, logins and SOPs point at an employee: deactivating keeps them whole."""
        reasons = [str(r) for r in employee_ties(employee)]
        if reasons:
            raise ValidationError(str(_l(
                "%(who)s cannot be deleted: %(reasons)s. Deactivate the employee instead.",
                who=str(employee), reasons="; ".join(reasons))))

    def scope(self, query):
        if current_user.role != "manager":
            return query
        employee = current_user.employee
        if employee is None or employee.department_id is None:
            return query.filter(false())
        return query.filter(Employee.department_id == employee.department_id)


# The texts of jobs.core.passwords.MESSAGES, for babel to translate.
PASSWORD_ERRORS = {
    "too_short": _l("The password must be at least 10 characters."),
    "too_long": _l("The password must be at most 200 characters."),
    "common": _l("This password is too common; choose one that is hard to guess."),
    "username": _l("The password must not be the username."),
}


class UserView(SecuredModelView):
    roles = ("admin",)
    write_roles = ("admin",)
    column_list = ("username", "role", "employee", "active", "created_at")
    column_details_list = ("username", "role", "employee", "active", "locale", "created_at")
    column_labels = {"username": _l("Username"), "role": _l("Role"),
                     "employee": _l("Employee"), "active": _l("Active"),
                     "created_at": _l("Created"), "locale": _l("Language"),
                     "password": _l("Password")}
    column_searchable_list = ("username",)
    column_filters = ("role", "active")
    column_formatters = {"role": labelled(ROLE_LABELS)}
    form_columns = ("username", "password", "role", "employee", "active")
    form_extra_fields = {"password": WriteOnlyField(
        _l("Password"), validators=[Optional()],
        store=lambda user, password: user.set_password(password),
        description=_l("At least 10 characters, not a common password; leave blank to keep "
                       "the current one."))}
    form_overrides = {"role": NameChoiceField}
    form_args = {"role": {"choices": list(ROLE_LABELS.items()), "blank": False},
                 "employee": {"query_factory": lambda: db.session.query(Employee)
                              .order_by(Employee.userid)}}
    form_widget_args = {"password": {"autocomplete": "new-password"}}

    def validate_form(self, form) -> bool:
        if not super().validate_form(form):
            return False
        if self.is_model_form(form) and form._obj is None and not form.password.data:
            form.password.errors.append(str(_l("A new user needs a password.")))
            return False
        if self.is_model_form(form) and form.password.data:
            refused = password_problems(form.password.data, form.username.data or "")
            form.password.errors.extend(str(PASSWORD_ERRORS[code]) for code in refused)
            return not refused
        return True

    def on_model_delete(self, model) -> None:
        if model.id == current_user.id:
            raise ValidationError(str(_l("You cannot delete your own login.")))
