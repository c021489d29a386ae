"""Read-only review lists of SPEC §6: follow-up records (跟进记录), dormant customers
(沉睡客户, the quarterly review) and prospects with too few follow-ups (潜客跟进不足).

Rows follow the customer scope of customers.py: sales see their own customers (and
the records they logged themselves), a manager their department's customers (and the
records their staff logged), service the customers they may see, admin and ops all.
"""
from __future__ import annotations

from datetime import datetime

from flask import request
from flask_admin import expose
from flask_admin.contrib.sqla.filters import FilterEqual, IntEqualFilter
from flask_admin.model import typefmt
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from admin_views.base import SecuredModelView, SecuredView
from admin_views.choices import (
    CHURN_LABELS, CUSTOMER_ROLES, METHOD_LABELS, OUTCOME_LABELS, labelled, lifecycle_stages,
    local_minutes, local_zone,
)
from admin_views.csv_export import EXPORT_CAP, csv_response
from admin_views.customers import LocalDaysFilter, customers_in_scope, employee_options, one_line
from admin_views.enrollments import customer_cell
from admin_views.forms import LazyOptions
from admin_views.scopes import followups_in_scope
from jobs.crm_rules import prospect_stage, prospect_violations
from models import Customer, Employee, FollowUp, Settings, db
from models.base import utcnow

PAGE_SIZE = 50


class FollowUpView(SecuredModelView):
    roles = CUSTOMER_ROLES
    write_roles = ()

    simple_list_pager = True  # records only grow: no COUNT(*) over them
    column_auto_select_related = False
    column_list = ("at", "customer", "employee", "method", "outcome", "next_date", "key_points")
    column_details_list = ("at", "customer", "employee", "method", "key_points", "feedback",
                           "next_action", "next_date", "collab_department", "outcome",
                           "lost_reason", "created_at")
    column_labels = {
        "at": _l("Time"), "customer": _l("Customer"), "employee": _l("Employee"),
        "method": _l("Method"), "outcome": _l("Outcome"), "next_date": _l("Next follow-up"),
        "key_points": _l("Key points"), "feedback": _l("Customer feedback"),
        "next_action": _l("Next action"), "collab_department": _l("Collaborating department"),
        "lost_reason": _l("Reason lost"), "created_at": _l("Written"),
    }
    column_formatters = {"customer": customer_cell, "key_points": one_line,
                         "method": labelled(METHOD_LABELS), "outcome": labelled(OUTCOME_LABELS)}
    column_formatters_detail = column_formatters | {
        "key_points": lambda v, c, m, n: m.key_points}
    column_sortable_list = ("at", "next_date")
    column_default_sort = ("at", True)
    column_filters = (
        FilterEqual(FollowUp.method, _l("Method"), options=list(METHOD_LABELS.items())),
        FilterEqual(FollowUp.outcome, _l("Outcome"), options=list(OUTCOME_LABELS.items())),
        LocalDaysFilter(FollowUp.at, _l("Time")),
        IntEqualFilter(FollowUp.employee_id, _l("Employee"),
                       options=LazyOptions(employee_options)),
    )

    def scope(self, query):
        return followups_in_scope(query)

    def get_query(self):
        return super().get_query().options(joinedload(FollowUp.customer),
                                           joinedload(FollowUp.employee))


class DormantCustomerView(SecuredModelView):
    """Customers without interaction long enough to be marked dormant (jobs/crm_rules),
    oldest first, for the quarterly review; CSV export of the filtered list."""

    roles = CUSTOMER_ROLES
    write_roles = ()
    can_export = True
    export_types = ["csv"]
    export_max_rows = EXPORT_CAP

    column_auto_select_related = False
    column_list = ("name", "external_id", "owner", "lifecycle_stage", "dormant_since",
                   "last_interaction_at", "last_followup_at")
    column_details_list = column_list + ("churn_status", "phone", "source", "added_at",
                                         "last_purchase_at")
    column_export_list = column_list
    column_labels = {
        "name": _l("Name"), "external_id": _l("External ID"), "owner": _l("Owner"),
        "lifecycle_stage": _l("Lifecycle stage"), "dormant_since": _l("Dormant since"),
        "last_interaction_at": _l("Last interaction"), "last_followup_at": _l("Last follow-up"),
        "churn_status": _l("Churn status"), "phone": _l("Phone"), "source": _l("Source"),
        "added_at": _l("Added"), "last_purchase_at": _l("Last purchase"),
    }
    column_formatters = {"name": one_line, "owner": one_line}
    column_formatters_detail = {"churn_status": labelled(CHURN_LABELS)}
    column_formatters_export: dict = {}  # plain text, not the list's HTML
    column_type_formatters_export = typefmt.EXPORT_FORMATTERS | {datetime: local_minutes}
    column_sortable_list = ("name", "dormant_since", "last_interaction_at")
    column_default_sort = ("dormant_since", False)
    column_searchable_list = ("name", "external_id")
    column_filters = (
        IntEqualFilter(Customer.owner_id, _l("Owner"), options=LazyOptions(employee_options)),
        FilterEqual(Customer.lifecycle_stage, _l("Lifecycle stage"),
                    options=LazyOptions(lambda: [(s, s) for s in lifecycle_stages()])),
        LocalDaysFilter(Customer.dormant_since, _l("Dormant since")),
    )

    def scope(self, query):
        return customers_in_scope(query.filter(Customer.churn_status == "dormant"))

    def get_query(self):
        return super().get_query().options(joinedload(Customer.owner))

    def _export_csv(self, return_url):
        """Flask-Admin's export, as a capped UTF-8 file with a BOM (Excel reads Chinese)."""
        _count, data = self._export_data()
        header = [label for _name, label in self._export_columns]
        rows = ([self.get_export_value(row, name) for name, _label in self._export_columns]
                for row in data)
        stamp = utcnow().astimezone(local_zone()).strftime("%Y-%m-%d")
        return csv_response(f"dormant-customers-{stamp}.csv", header, rows)


def violation_rows(settings: Settings, now: datetime):
    """The prospect violations the current user may see, with what the list shows."""
    query = prospect_violations(settings, now).add_columns(
        Customer.name, Customer.external_id, Customer.added_at, Customer.last_followup_at,
        Employee.name.label("owner")).outerjoin(Employee, Employee.id == Customer.owner_id)
    return customers_in_scope(query)


class ProspectViolationView(SecuredView):
    """Prospects (the configured stage) with fewer follow-ups in the window than
    required, once they have been customers for a full window."""

    roles = CUSTOMER_ROLES

    @expose("/")
    def index(self):
        settings = Settings.get(db.session)
        query = violation_rows(settings, utcnow())
        total = db.session.scalar(select(func.count()).select_from(query.subquery()))
        pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
        page = min(max(request.args.get("page", 0, type=int), 0), pages - 1)
        rows = db.session.execute(query.order_by("followups", Customer.added_at, Customer.id)
                                  .limit(PAGE_SIZE).offset(page * PAGE_SIZE)).all()
        return self.render("admin/prospect_violations.html", rows=rows, total=total,
                           page=page, pages=pages, stage=prospect_stage(settings),
                           required=settings.prospect_min_followups,
                           window=settings.prospect_window_days,
                           local_time=lambda at: local_minutes(None, at) if at else "")
