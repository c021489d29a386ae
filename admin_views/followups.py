"""Employees' CRM forms (SPEC §6): log a follow-up, raise a request, decide a review.

- Log follow-up (opened from an inbox card or a customer): the form becomes a
  `followup_logged` event through the same path as the API, so the record, the
  customer's outcome and the follow-up task move the same way; the next task
  appears at once when it is already within a day.
- New request (需求任务): a task for a person with the SLA deadline from settings.
- Review: the department manager approves or rejects (reason required) a pending
  customer record from the review task on their inbox card.
Every customer is checked against the user's row scope; a form that does not
validate shows its errors and writes nothing.
"""
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext, lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, DateTimeLocalField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from admin_views.base import SecuredView
from admin_views.choices import METHOD_LABELS, OUTCOME_LABELS, local_zone
from admin_views.customers import customers_in_scope
from admin_views.scopes import tasks_in_scope
from jobs import crm_tasks, followups
from jobs.core.vocab import FOLLOWUP_METHODS, FOLLOWUP_OUTCOMES
from jobs.events import EventsInvalid, apply_events
from models import Customer, Department, Employee, Task, db
from models.base import utcnow

class FollowUpForm(FlaskForm):
    at = DateTimeLocalField(_l("Time"), validators=[DataRequired()], format="%Y-%m-%dT%H:%M")
    method = SelectField(_l("Method"), choices=[])
    key_points = TextAreaField(_l("Key points"), validators=[DataRequired(), Length(max=4000)])
    feedback = TextAreaField(_l("Customer feedback"), validators=[Optional(), Length(max=4000)])
    next_action = StringField(_l("Next action"), validators=[Optional(), Length(max=1000)])
    next_date = DateField(_l("Next follow-up date"), validators=[Optional()])
    collab_department = SelectField(_l("Collaborating department"), choices=[])
    outcome = SelectField(_l("Outcome"), choices=[])
    lost_reason = TextAreaField(_l("Reason lost"), validators=[Length(max=1000)])

    def validate_at(self, field):
        if field.data and field.data.replace(tzinfo=local_zone()) > utcnow():
            raise ValidationError(gettext("A follow-up cannot be in the future."))

    def validate_next_date(self, field):
        if field.data and self.at.data and field.data < self.at.data.date():
            raise ValidationError(gettext("The next follow-up cannot be before this one."))

    def validate_lost_reason(self, field):
        if self.outcome.data == "lost" and not (field.data or "").strip():
            raise ValidationError(gettext("Say why the customer was lost."))


class RequestForm(FlaskForm):
    customer = StringField(_l("Customer (external id)"), validators=[DataRequired(), Length(max=64)])
    assignee = SelectField(_l("Assign to"), choices=[], coerce=int)
    title = StringField(_l("Request"), validators=[DataRequired(), Length(max=200)])
    text = TextAreaField(_l("Details"), validators=[Optional(), Length(max=4000)])


def visible_customer(customer_id) -> Customer:
    query = customers_in_scope(db.session.query(Customer).filter(Customer.id == customer_id))
    found = query.first()
    if found is None:
        abort(404)
    return found


def int_arg(name: str) -> int | None:
    raw = request.values.get(name, "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 18 else None


class FollowUpFormView(SecuredView):
    """Not a menu entry of its own: opened from the inbox and the customer page."""

    roles = ("admin", "manager", "sales", "service")

    def is_visible(self) -> bool:
        return False

    @expose("/", methods=("GET", "POST"))
    def index(self):
        customer = visible_customer(int_arg("customer"))
        form = FollowUpForm()
        form.method.choices = [(m, str(METHOD_LABELS[m])) for m in FOLLOWUP_METHODS]
        form.outcome.choices = [(o, str(OUTCOME_LABELS[o])) for o in FOLLOWUP_OUTCOMES]
        form.collab_department.choices = [("", "—")] + [
            (d.name, d.name) for d in db.session.scalars(select(Department).order_by(Department.name))]
        if request.method == "GET":
            form.at.data = utcnow().astimezone(local_zone()).replace(tzinfo=None, second=0,
                                                                     microsecond=0)
        if form.validate_on_submit():
            if self._log(customer, form):
                return redirect(url_for("inbox.index"))
        return self.render("admin/followup_form.html", form=form, customer=customer,
                           zone=local_zone())

    def _log(self, customer: Customer, form: FollowUpForm) -> bool:
        now = utcnow()
        event = {"type": "followup_logged", "external_id": customer.external_id,
                 "at": form.at.data.replace(tzinfo=local_zone()).isoformat()}
        for name in ("method", "key_points", "feedback", "next_action", "collab_department",
                     "outcome", "lost_reason"):
            value = (form[name].data or "").strip()
            if value:
                event[name] = value
        if form.next_date.data:
            event["next_date"] = form.next_date.data.isoformat()
        employee = current_user.employee  # a login without one: the owner by default
        if employee is not None:
            event["employee"] = employee.userid
        try:
            apply_events(db.session, [event], now)
        except EventsInvalid as exc:
            for problem in exc.problems:
                field = form[problem.field] if problem.field in form else None
                (field.errors.append if field is not None else flash)(problem.message)
            return False
        followups.open_due_tasks(db.session, now, only=[customer.id])
        db.session.commit()
        db.session.refresh(customer)
        due = customer.next_followup_at
        flash(gettext("Follow-up logged. Next follow-up: %(when)s.",
                      when=due.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M")
                      if due else gettext("none")), "success")
        return True

    @expose("/review/", methods=("POST",))
    def review(self):
        """Approve or reject the pending record behind a review task the user sees."""
        if current_user.role not in ("admin", "manager"):
            abort(403)
        task_id = int_arg("id")
        task = tasks_in_scope(db.session.query(Task).filter(
            Task.id == task_id, Task.rule == "review")).first() if task_id else None
        if task is None or task.customer is None:
            abort(404)
        approve = request.form.get("decision") == "approve"
        try:
            crm_tasks.decide(db.session, task.customer, approve, request.form.get("reason"),
                             utcnow(), by=current_user.username)
        except crm_tasks.ReviewError as exc:
            db.session.rollback()
            flash(gettext("Nothing was changed: %(why)s.", why=str(exc)), "error")
            return redirect(url_for("inbox.index"))
        db.session.commit()
        flash(gettext("Record approved.") if approve else
              gettext("Record rejected; it went back to its owner."), "success")
        return redirect(url_for("inbox.index"))


class RequestView(SecuredView):
    """需求任务: a customer's request, given to a person with a response deadline."""

    roles = ("admin", "manager", "sales", "service")

    @expose("/", methods=("GET", "POST"))
    def index(self):
        form = RequestForm()
        form.assignee.choices = [(e.id, str(e)) for e in db.session.scalars(
            select(Employee).where(Employee.active.is_(True)).order_by(Employee.name))]
        if request.method == "GET" and int_arg("customer"):
            form.customer.data = visible_customer(int_arg("customer")).external_id
        if form.validate_on_submit():
            customer = customers_in_scope(db.session.query(Customer).filter(
                Customer.external_id == form.customer.data.strip())).first()
            if customer is None:
                form.customer.errors.append(gettext("No customer with this id that you may see."))
            else:
                task = crm_tasks.create_request(
                    db.session, customer, db.session.get(Employee, form.assignee.data),
                    form.title.data.strip(), (form.text.data or "").strip() or None, utcnow())
                db.session.commit()
                flash(gettext("Request created; answer due by %(when)s.",
                              when=task.deadline_at.astimezone(local_zone())
                              .strftime("%Y-%m-%d %H:%M")), "success")
                return redirect(url_for("inbox.index"))
        return self.render("admin/request_form.html", form=form)

