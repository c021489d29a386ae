"""An SOP's customer list (SPEC §3): who is in which SOP, since when, how it ended.

Reached from an SOP's page ("Customers": the list filtered to that SOP). Ops can
end selected customers by hand (手动结束), with optional tags and a flow into a
nurture SOP, and re-add customers whose enrollment has ended. Managers read the
enrollments of their department's customers.
"""
from __future__ import annotations

import re
from collections import defaultdict

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import FilterEqual, IntEqualFilter
from flask_admin.helpers import get_redirect_target
from flask_babel import gettext, lazy_gettext as _l, ngettext
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from wtforms import HiddenField, StringField
from wtforms.validators import ValidationError

from admin_views.base import SecuredModelView, current_role
from admin_views.choices import CONFIG_ROLES, CUSTOMER_ROLES, step_caption
from admin_views.forms import CsrfForm, LazyOptions, NameChoiceField
from admin_views.lifecycle import refused
from admin_views.scopes import about_visible_customers
from admin_views.sops import sop_label
from admin_views.system import sop_options
from jobs import lifecycle
from jobs.analytics import last_steps
from models import Enrollment, Sop, Tag, db
from models.base import utcnow

ENROLLMENT_LABELS = {"active": _l("In progress"), "ended_early": _l("Ended early"),
                     "completed": _l("Completed"), "ended_manual": _l("Ended by hand")}
# the engine stores why an enrollment ended and what became of its flow in plain English
# (jobs/enrollments.py, jobs/lifecycle.py, jobs/materialize.py); people read these
END_REASON_LABELS = {"early end rule": _l("Early-end rule met"),
                     "all steps done": _l("All steps done"),
                     "SOP ended": _l("The SOP was ended"), "ended by hand": _l("Ended by hand")}
FLOW_RESULTS = (
    (re.compile(r"entered (?P<sop>\S+)$"), _l("Entered %(sop)s")),
    (re.compile(r"skipped: already enrolled in (?P<sop>\S+)$"),
     _l("Skipped: already in %(sop)s")),
    (re.compile(r"skipped: (?P<sop>\S+) is not a running nurture SOP$"),
     _l("Skipped: %(sop)s is not a running nurture SOP")),
)
TAG_SEPARATORS = re.compile(r"[,，、]")
FLOW_STATUSES = ("running", "paused")  # a flow into any other SOP would be skipped


# --- columns ---------------------------------------------------------------------------
def customer_cell(view, context, model, name):
    """The customer's name and WeCom id, linked to the customer when the user may open it."""
    customer = getattr(model, name)
    if customer is None:
        return ""
    text = Markup('{} <span class="text-muted small">{}</span>').format(
        customer.name or "", customer.external_id)
    if current_role() not in CUSTOMER_ROLES:
        return text
    url = url_for("customers.details_view", id=customer.id)
    return Markup('<a href="{}">{}</a>').format(url, text)


def sop_cell(view, context, model, name):
    """An SOP by name, linked to its page for the roles that configure SOPs."""
    sop = getattr(model, name)
    if sop is None:
        return ""
    if current_role() not in CONFIG_ROLES:
        return str(sop)
    return Markup('<a href="{}">{}</a>').format(url_for("sops.details_view", id=sop.id), sop)


def last_step_cell(view, context, model, name) -> str:
    position = getattr(model, "last_step", None)
    if position is None:
        return ""
    step = next((s for s in model.sop.steps if s.position == position), None)
    return step_caption(step) if step else f"#{position + 1}"


def end_reason_cell(view, context, model, name) -> str:
    reason = model.end_reason or ""
    return str(END_REASON_LABELS.get(reason, reason))


def flow_result_cell(view, context, model, name) -> str:
    result = model.flow_result or ""
    for pattern, label in FLOW_RESULTS:
        found = pattern.match(result)
        if found:
            return str(label % found.groupdict())
    return result


def enrollment_status(view, context, model, name):
    return ENROLLMENT_LABELS.get(model.status, model.status)


# --- manual end: the second step of the action -------------------------------------------
def flow_choices() -> list[tuple[str, str]]:
    """Nurture SOPs a customer can flow into now."""
    return [(s.key, sop_label(s)) for s in db.session.scalars(
        select(Sop).where(Sop.kind == "nurture", Sop.status.in_(FLOW_STATUSES))
        .order_by(Sop.key))]


def split_tag_names(text: str | None) -> list[str]:
    """"a, b、c" -> ["a", "b", "c"]: commas (also full-width) and 、 separate names."""
    names = [n.strip() for n in TAG_SEPARATORS.split(text or "")]
    return list(dict.fromkeys(n for n in names if n))


def tag_names_valid(form, field) -> None:
    longest = Tag.name.type.length
    too_long = [n for n in split_tag_names(field.data) if len(n) > longest]
    if too_long:
        raise ValidationError(str(_l("A tag name has at most %(num)d characters: %(name)s",
                                     num=longest, name=too_long[0])))


class EndForm(CsrfForm):
    ids = HiddenField()
    url = HiddenField()
    tags = StringField(_l("Then add tags"), validators=[tag_names_valid],
                       description=_l("Tag names separated by commas or 、; "
                                      "missing tags are created"))
    flow_to = NameChoiceField(_l("Then flow to"), choices=flow_choices,
                              description=_l("Only nurture SOPs that are running or paused"))


def posted_ids(text: str) -> list[int]:
    return [int(i) for i in (text or "").split(",") if i.strip().isdigit()]


# --- the screen ---------------------------------------------------------------------------
class EnrollmentView(SecuredModelView):
    roles = ("admin", "ops", "manager")
    write_roles = ()  # rows change only through the engine and the actions below
    action_roles = CONFIG_ROLES

    simple_list_pager = True  # enrollments grow with customers x SOPs: no COUNT(*)
    column_auto_select_related = False  # get_query loads what the list shows
    column_list = ("customer", "sop", "status", "last_step", "enrolled_at", "day0",
                   "next_due_at", "flowed_from", "ended_at", "end_reason", "flow_result")
    column_details_list = ("customer", "sop", "status", "round", "enrolled_at", "day0",
                           "next_due_at", "holdout", "flowed_from", "ended_at", "end_reason",
                           "flow_result")
    column_labels = {
        "customer": _l("Customer"), "sop": _l("SOP"), "status": _l("Status"),
        "enrolled_at": _l("Enrolled"), "day0": _l("Day 0"), "next_due_at": _l("Next step due"),
        "flowed_from": _l("Flowed from"), "ended_at": _l("Ended"),
        "end_reason": _l("End reason"), "flow_result": _l("Flow result"),
        # the search box's placeholder
        "customer.name": _l("Customer name"), "customer.external_id": _l("External ID"),
        "round": _l("Round"), "holdout": _l("Holdout (not messaged)"),
        "last_step": _l("Last step reached"),
    }
    column_formatters = {"customer": customer_cell, "sop": sop_cell,
                         "flowed_from": sop_cell, "status": enrollment_status,
                         "last_step": last_step_cell, "end_reason": end_reason_cell,
                         "flow_result": flow_result_cell}
    column_formatters_detail = column_formatters
    column_sortable_list = ("status", "enrolled_at")  # indexed: big lists sort fast
    column_default_sort = ("enrolled_at", True)
    column_searchable_list = ("customer.name", "customer.external_id")
    # the SOP page links here with flt0_0=<sop id>: keep this filter first
    column_filters = (
        IntEqualFilter(Enrollment.sop_id, _l("SOP"), options=LazyOptions(sop_options)),
        FilterEqual(Enrollment.status, _l("Status"), options=list(ENROLLMENT_LABELS.items())),
    )

    def scope(self, query):
        return about_visible_customers(query, Enrollment.customer_id)

    def get_list(self, *args, **kwargs):
        """The page's rows, each with the last step it reached (one query for the page)."""
        count, rows = super().get_list(*args, **kwargs)
        reached = last_steps(db.session, [e.id for e in rows])
        for enrollment in rows:
            enrollment.last_step = reached.get(enrollment.id)
        return count, rows

    def get_query(self):
        return super().get_query().options(
            joinedload(Enrollment.customer), joinedload(Enrollment.sop),
            joinedload(Enrollment.flowed_from))

    def selected(self, ids) -> list[Enrollment]:
        """The enrollments with these ids that the user may see."""
        wanted = [int(i) for i in ids if str(i).isdigit()]
        return self.get_query().filter(Enrollment.id.in_(wanted)).all() if wanted else []

    # --- actions -------------------------------------------------------------------------
    def is_action_allowed(self, name: str) -> bool:
        if name in ("end_selected", "re_add"):
            return self._may(self.action_roles)
        return super().is_action_allowed(name)

    def _ask_how_to_end(self, form, count: int):
        return self.render("admin/enrollment_end.html", form=form, count=count)

    @action("end_selected", _l("End selected (manual end)"))
    def action_end_selected(self, ids):
        form = EndForm(formdata=None, ids=",".join(ids),
                       url=get_redirect_target() or self.get_url(".index_view"))
        return self._ask_how_to_end(form, len(ids))

    @expose("/end/", methods=("POST",))
    def end_view(self):
        if not self.is_action_allowed("end_selected"):
            abort(403)
        form = EndForm(request.form)
        back = form.url.data = get_redirect_target() or self.get_url(".index_view")  # safe
        ids = posted_ids(form.ids.data)
        if not form.validate():
            return self._ask_how_to_end(form, len(ids))
        rows = [e for e in self.selected(ids) if e.status == "active"]
        flow_to = db.session.scalar(select(Sop).where(Sop.key == form.flow_to.data)) \
            if form.flow_to.data else None
        by_sop: dict[Sop, list[int]] = defaultdict(list)
        for enrollment in rows:
            by_sop[enrollment.sop].append(enrollment.customer_id)
        ended, now = 0, utcnow()
        try:
            for sop, customer_ids in by_sop.items():
                ended += lifecycle.end_customers(db.session, sop, customer_ids, now,
                                                 split_tag_names(form.tags.data), flow_to)
        except lifecycle.LifecycleError as exc:
            refused(exc)
            return redirect(back)
        db.session.commit()
        flash(ngettext("Ended %(num)d customer's enrollment by hand.",
                       "Ended %(num)d customers' enrollments by hand.", ended), "success")
        return redirect(back)

    @action("re_add", _l("Re-add to the SOP"),
            _l("Re-add the selected customers? Their SOP starts again from day 0."))
    def action_re_add(self, ids):
        """All or nothing: one enrollment that cannot be re-added stops the whole action."""
        rows, now, problems = self.selected(ids), utcnow(), []
        for enrollment in rows:
            try:
                lifecycle.enroll_by_hand(db.session, enrollment.sop, enrollment.customer, now)
            except lifecycle.LifecycleError as exc:
                problems.append(exc.localized(gettext))
        if problems:
            refused("; ".join(problems))
            return None
        db.session.commit()
        flash(ngettext("Re-added %(num)d customer.", "Re-added %(num)d customers.", len(rows)),
              "success")
        return None
