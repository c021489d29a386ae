"""The monthly follow-up report (报表, SPEC §6): per employee, per department, and the
reasons customers were not converted; a CSV of the per-employee rows.

Who sees what (SPEC §7): admin and ops everyone; a manager their own department
(employees and roll-up); sales only their own row (no roll-up); service and finance
do not open it. `?month=YYYY-MM` picks the month (default: the current local month).
The figures come from `jobs.reports.monthly_followups`; the page loads nothing from
the network.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone

from flask import request
from flask_admin import expose
from flask_babel import gettext, lazy_gettext as _l
from flask_login import current_user

from admin_views.base import SecuredView
from admin_views.choices import local_zone
from admin_views.csv_export import csv_response
from admin_views.customers import own_department_id, own_employee_id
from jobs.reports import Figures, MonthlyReport, month_bounds, monthly_followups, next_month
from models import db

REPORT_ROLES = ("admin", "ops", "manager", "sales")
MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
FIRST_YEAR, LAST_YEAR = 2000, 2100


class MonthInvalid(ValueError):
    pass


def parse_month(raw: str | None, today: date) -> date:
    """`YYYY-MM` as the first day of that month; none given: the month of `today`."""
    if raw is None or raw.strip() == "":
        return today.replace(day=1)
    found = MONTH_RE.match(raw.strip())
    if found is None or not 1 <= int(found[2]) <= 12 \
            or not FIRST_YEAR <= int(found[1]) <= LAST_YEAR:
        raise MonthInvalid(gettext(
            "Month %(value)s is not valid: write it as year-month, e.g. 2025-03 "
            "(years %(first)s to %(last)s).", value=raw[:20], first=FIRST_YEAR, last=LAST_YEAR))
    return date(int(found[1]), int(found[2]), 1)


def report_filters() -> dict | None:
    """The report's filter for the current user; None when they may see no row."""
    role = current_user.role
    if role in ("admin", "ops"):
        return {}
    if role == "manager":
        department = own_department_id()
        return {"department_id": department} if department is not None else None
    if role == "sales":
        mine = own_employee_id()
        return {"employee_id": mine} if mine is not None else None
    return None


def report_for(month: date) -> MonthlyReport:
    zone = local_zone()
    filters = report_filters()
    if filters is None:
        start, end = month_bounds(month, zone)
        return MonthlyReport(month, start, end, [], [], [], Figures())
    report = monthly_followups(db.session, month, zone, **filters)
    if current_user.role == "sales":  # their own row only: no team figures
        report = MonthlyReport(report.month, report.start, report.end, report.employees, [],
                               report.reasons, report.total)
    return report


EXPORT_HEADER = (_l("Department"), _l("Employee"), _l("WeCom user ID"), _l("Follow-ups"),
                 _l("Customers followed"), _l("Opportunities"), _l("To nurture"), _l("Lost"))


def previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


class FollowupReportView(SecuredView):
    roles = REPORT_ROLES

    def _month(self) -> date:
        today = datetime.now(timezone.utc).astimezone(local_zone()).date()
        return parse_month(request.args.get("month"), today)

    @expose("/")
    def index(self):
        try:
            month = self._month()
        except MonthInvalid as problem:
            return self.render("admin/report_followups.html", problem=str(problem),
                               month=None, report=None), 400
        report = report_for(month)
        return self.render(
            "admin/report_followups.html", problem=None, month=month, report=report,
            previous=previous_month(month).strftime("%Y-%m"),
            following=next_month(month).strftime("%Y-%m") if month.year < LAST_YEAR or
            month.month < 12 else None,
            team=current_user.role != "sales", zone=local_zone())

    @expose("/export.csv")
    def export(self):
        try:
            month = self._month()
        except MonthInvalid as problem:
            return str(problem), 400, {"Content-Type": "text/plain; charset=utf-8"}
        report = report_for(month)
        rows = ((r.department, r.employee, r.userid, r.followups, r.customers,
                 r.opportunities, r.nurture, r.lost) for r in report.employees)
        return csv_response(f"followups-{month:%Y-%m}.csv", EXPORT_HEADER, rows)
