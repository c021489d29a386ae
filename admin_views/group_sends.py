"""客户群发 (SPEC §10): compose a group send, see its preview, confirm; the list of group
sends with their deliveries per status; one group send's data page.

Ops reach every customer; a manager only the customers owned in their department
(the customer row scope). The form is checked by the same rules as the API
(`jobs.core.rules_group_send`); the preview is `jobs.group_sends.preview`, shown
before the confirm button appears. Writing goes through `jobs.group_sends.create`
(the group send is audited, its deliveries with one summary row).
"""
from __future__ import annotations

import hashlib
import secrets
from pathlib import Path
from datetime import datetime, timezone

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext, lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateTimeField, IntegerField, StringField, TextAreaField
from wtforms.validators import Optional

from admin_views.base import SecuredView
from admin_views.choices import churn_choices, lifecycle_stages, local_zone
from admin_views.customers import own_department_id
from admin_views.deliveries import DELIVERY_LABELS
from admin_views.lifecycle import run_tick_soon
from admin_views.forms import (
    CsrfForm, FreeNamesField, NameChoiceField, NameListField, show_problems,
)
from admin_views.scopes import visible_customer_ids
from admin_views.sop_data import sends_chart
from admin_views.sops import segment_choices, tag_list
from config_io.export import known_from_db
from jobs import analytics, group_sends
from jobs.core.vocab import DELIVERY_STATUSES, MAX_TEXT_BYTES
from models import Delivery, Department, Employee, GroupSend, Material, db

ROLES = ("admin", "ops", "manager")
TARGET_FIELDS = {"sources": "sources", "tags_any": "tags_any", "tags_all": "tags_all",
                 "tags_none": "tags_none", "segment": "segment", "stages": "stages",
                 "churn_status": "churn_status", "members": "members",
                 "departments": "departments"}
PROBLEM_FIELDS = {"key": "key", "text": "text", "attachments": "attachments", "at": "at",
                  "priority": "priority", "senders": "senders", "target": TARGET_FIELDS,
                  "batch": {"size": "batch_size", "interval_minutes": "batch_interval"}}
STATIC = Path(__file__).resolve().parent / "static"  # group_send.js
RECENT = 20  # deliveries listed on the data page


def material_choices():
    return [(m.key, f"{m.title} [{m.key}]")
            for m in db.session.scalars(select(Material).order_by(Material.key))]


def staff():
    """The employees the user may choose as senders: a manager their department's."""
    query = select(Employee).where(Employee.active.is_(True)).order_by(Employee.name)
    if current_user.role == "manager":
        query = query.where(Employee.department_id == own_department_id())
    return db.session.scalars(query).all()


def staff_choices():
    return [(e.userid, e.name) for e in staff()]


def department_choices():
    return [d.name for d in db.session.scalars(select(Department).order_by(Department.name))]


class GroupSendForm(FlaskForm):
    key = StringField(_l("Key"), description=_l("Sending the same key again changes nothing"))
    text = TextAreaField(_l("Text"), render_kw={"rows": 5, "data-max-bytes": MAX_TEXT_BYTES})
    attachments = NameListField(_l("Attachments (at most 9)"), choices=material_choices)
    sources = FreeNamesField(_l("Sources"))
    tags_any = tag_list(_l("Has any of these tags"))
    tags_all = tag_list(_l("Has all of these tags"))
    tags_none = tag_list(_l("Has none of these tags"))
    segment = NameChoiceField(_l("Segment"), choices=segment_choices)
    stages = NameListField(_l("Lifecycle stages"), choices=lifecycle_stages)
    churn_status = NameListField(_l("Churn status"), choices=churn_choices)
    members = NameListField(_l("Owned by these employees"), choices=staff_choices)
    departments = NameListField(_l("Owned in these departments"), choices=department_choices)
    # a text field: the browser's own date input speaks the browser's language
    at = DateTimeField(_l("Send at"), validators=[Optional()], format="%Y-%m-%d %H:%M",
                       render_kw={"placeholder": "2026-12-12 10:00"},
                       description=_l("Empty: now. Local time, e.g. 2026-12-12 10:00"))
    priority = IntegerField(_l("Priority"), default=0, validators=[Optional()],
                            description=_l("Higher wins the day's quota over SOP messages"))
    batch_size = IntegerField(_l("Batch size"), default=200, validators=[Optional()])
    batch_interval = IntegerField(_l("Minutes between batches"), default=0,
                                  validators=[Optional()])
    senders = NameListField(_l("Senders"), choices=staff_choices,
                            description=_l("Empty: each customer's owner sends"))

    def as_body(self) -> dict:
        """The form as the API's JSON body."""
        target = {name: self[name].data for name in TARGET_FIELDS if self[name].data}
        body = {"key": (self.key.data or "").strip(), "text": self.text.data or "",
                "attachments": list(self.attachments.data or []), "target": target,
                "priority": self.priority.data or 0, "senders": list(self.senders.data or []),
                "batch": {"size": self.batch_size.data or 200,
                          "interval_minutes": self.batch_interval.data or 0}}
        if self.at.data:
            body["at"] = self.at.data.replace(tzinfo=local_zone()).isoformat()
        return body


def digest(spec: group_sends.Spec) -> str:
    """What was previewed: a confirm of anything else shows the new preview instead."""
    return hashlib.sha256(repr(spec).encode()).hexdigest()


class GroupSendView(SecuredView):
    roles = ROLES

    def __init__(self, *args, **kwargs):
        # Flask-Admin roots a view's blueprint in its own package: an absolute folder
        super().__init__(*args, static_folder=str(STATIC), **kwargs)

    @expose("/")
    def index(self):
        visible = visible_customer_ids()
        rows = db.session.scalars(select(GroupSend).order_by(GroupSend.at.desc(),
                                                             GroupSend.id.desc())).all()
        counts = group_sends.status_counts(db.session, [g.id for g in rows], visible)
        return self.render("admin/group_send_list.html", rows=rows, counts=counts,
                           statuses=DELIVERY_STATUSES, labels=DELIVERY_LABELS, zone=local_zone())

    @expose("/new/", methods=("GET", "POST"))
    def compose(self):
        form = GroupSendForm()
        if request.method == "GET":
            form.key.data = datetime.now(local_zone()).strftime("gs-%Y%m%d-%H%M-") + \
                secrets.token_hex(2)
        preview = None
        if request.method == "POST" and form.validate():
            now = datetime.now(timezone.utc)
            spec, problems = group_sends.parse(form.as_body(), known_from_db(db.session), now)
            db.session.rollback()  # reading what is known may have touched the session
            if problems:
                show_problems(form, problems, PROBLEM_FIELDS)
            elif "confirm" in request.form and request.form.get("previewed") == digest(spec):
                group_send, made = group_sends.create(db.session, now, spec,
                                                      current_user.username,
                                                      visible_customer_ids())
                flash(gettext("Group send %(key)s created for %(n)s customers.",
                              key=group_send.key, n=group_send.matched) if made else
                      gettext("A group send with this key exists already; nothing changed."),
                      "success" if made else "warning")
                if made and group_send.at <= now:
                    run_tick_soon()
                return redirect(url_for(".index"))
            else:
                # first show, or changed since the preview shown: preview (again) first
                preview = group_sends.preview(db.session, now, spec, visible_customer_ids())
                db.session.rollback()
                previewed = digest(spec)
        return self.render("admin/group_send_form.html", form=form, preview=preview,
                           previewed=previewed if preview else "")

    @expose("/<int:group_send_id>/")
    def data_view(self, group_send_id: int):
        group_send = db.session.get(GroupSend, group_send_id)
        if group_send is None:
            abort(404)
        now, tz, visible = datetime.now(timezone.utc), local_zone(), visible_customer_ids()
        counts = group_sends.status_counts(db.session, [group_send.id], visible)[group_send.id]
        sends = analytics.origin_sends_per_day(db.session,
                                               Delivery.group_send_id == group_send.id,
                                               now, tz, visible=visible)
        recent = select(Delivery).where(Delivery.group_send_id == group_send.id)
        if visible is not None:
            recent = recent.where(Delivery.customer_id.in_(visible))
        deliveries = db.session.scalars(recent.order_by(Delivery.due_at.desc(),
                                                        Delivery.id.desc()).limit(RECENT)).all()
        return self.render("admin/group_send_data.html", group_send=group_send, counts=counts,
                           statuses=DELIVERY_STATUSES, labels=DELIVERY_LABELS, zone=tz, now=now,
                           sends_chart=sends_chart(sends), deliveries=deliveries,
                           held=group_sends.held(db.session, group_send.id, visible),
                           form=CsrfForm(), can_cancel=self.may_cancel(group_send))

    def may_cancel(self, group_send: GroupSend) -> bool:
        return group_send.status == "active" and group_sends.may_cancel(
            current_user.role, current_user.username, group_send)

    @expose("/<int:group_send_id>/cancel/", methods=("POST",))
    def cancel_view(self, group_send_id: int):
        group_send = db.session.get(GroupSend, group_send_id)
        if group_send is None:
            abort(404)
        if not group_sends.may_cancel(current_user.role, current_user.username, group_send):
            abort(403)  # (the CSRF token is checked by CSRFProtect for every POST)
        cancelled = group_sends.cancel(db.session, group_send, datetime.now(timezone.utc))
        flash(gettext("Group send cancelled: %(n)s deliveries will not go out.", n=cancelled),
              "success")
        return redirect(url_for(".data_view", group_send_id=group_send.id))
