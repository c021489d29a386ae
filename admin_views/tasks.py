"""Inbox tasks, read-only: what employees have to do (send batches, reminders, playbook
steps, follow-ups), each seen by its assignee, their manager, ops and admin."""
from __future__ import annotations

from flask_admin.contrib.sqla.filters import BaseSQLAFilter, FilterEqual
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from admin_views.base import SecuredModelView
from admin_views.choices import ROLE_LABELS, local_zone
from admin_views.customers import LocalDaysFilter, one_line
from admin_views.enrollments import customer_cell
from admin_views.scopes import tasks_in_scope
from jobs.ops_stats import overdue
from models import Task
from models.base import utcnow

TASK_KIND_LABELS = {"send": _l("Send messages"), "reminder": _l("Reminder"), "step": _l("SOP step"),
                    "followup": _l("Follow-up"), "request": _l("Customer request"),
                    "review": _l("Customer review")}
TASK_STATUS_LABELS = {"open": _l("Open"), "done": _l("Done"), "cancelled": _l("Cancelled")}


class OverdueFilter(BaseSQLAFilter):
    """Open and overdue as the inbox counts it (jobs.crm_rules.late)."""

    def apply(self, query, value, alias=None):
        return query.filter(overdue(utcnow(), local_zone()))

    def operation(self):
        return _l("is")


def assignee(view, context, model, name) -> str:
    """The employee, or the role when the task is for whoever has it."""
    if model.employee is not None:
        return str(model.employee)
    return str(ROLE_LABELS.get(model.role, model.role or ""))


class TaskView(SecuredModelView):
    roles = ("admin", "ops", "manager", "sales", "service")
    write_roles = ()

    simple_list_pager = True
    column_auto_select_related = False
    column_list = ("kind", "title", "assignee", "customer", "due_at", "deadline_at", "status")
    column_details_list = ("kind", "status", "title", "text", "assignee", "customer", "sop",
                           "journey", "due_at", "deadline_at", "created_at", "done_at",
                           "done_by")
    column_labels = {
        "kind": _l("Kind"), "title": _l("Title"), "assignee": _l("Assignee"),
        "customer": _l("Customer"), "due_at": _l("Due"), "deadline_at": _l("Deadline"),
        "status": _l("Status"), "text": _l("Text"), "sop": _l("SOP"), "journey": _l("Journey"),
        "created_at": _l("Created"), "done_at": _l("Done at"), "done_by": _l("Done by"),
    }
    column_formatters = {
        "kind": lambda v, c, m, n: TASK_KIND_LABELS.get(m.kind, m.kind),
        "status": lambda v, c, m, n: TASK_STATUS_LABELS.get(m.status, m.status),
        "assignee": assignee, "customer": customer_cell, "title": one_line,
    }
    column_formatters_detail = column_formatters | {"title": lambda v, c, m, n: m.title}
    column_sortable_list = ("due_at", "deadline_at", "status")
    column_default_sort = ("due_at", True)
    column_searchable_list = ("title",)
    column_filters = (
        FilterEqual(Task.status, _l("Status"), options=list(TASK_STATUS_LABELS.items())),
        FilterEqual(Task.kind, _l("Kind"), options=list(TASK_KIND_LABELS.items())),
        LocalDaysFilter(Task.due_at, _l("Due")),
        OverdueFilter(Task.id, _l("Overdue"), options=[("yes", _l("yes"))]),
    )

    def scope(self, query):
        return tasks_in_scope(query)

    def get_query(self):
        return super().get_query().options(joinedload(Task.employee), joinedload(Task.customer))
