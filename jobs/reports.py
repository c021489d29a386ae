"""The monthly follow-up report (SPEC §6 报表): per employee and per department.

`monthly_followups(session, month, zone, employee_id=None, department_id=None)`
counts, for the follow-ups logged in one calendar month of the enterprise zone
(`month` is its first day; `[start, end)` in local time, compared as UTC instants):

- follow-ups logged, distinct customers followed;
- opportunities, to nurture and lost: distinct customers with a record of that outcome;
- reasons not converted: the lost reasons (trimmed) with the customers lost for each.

Per employee (who logged the record) and rolled up per department of that employee,
where a customer followed by two people of one department counts once. Everything is
aggregated in SQL (GROUP BY); Python only merges the few result rows. Active sales
employees in scope who logged nothing are listed with zeros (the rows a manager looks
for). Records logged without an employee are one row of their own (no department),
only when neither filter is given. Nothing here reads the clock.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import case, distinct, func, select

from models import Department, Employee, FollowUp

IDLE_ROLES = ("sales",)  # employees listed with zeros when they logged nothing


@dataclass(frozen=True)
class Figures:
    followups: int = 0  # records logged
    customers: int = 0  # distinct customers followed
    opportunities: int = 0  # distinct customers with an `opportunity` record
    nurture: int = 0  # ... with a `nurture` record
    lost: int = 0  # ... with a `lost` record


FIGURES = tuple(f.name for f in fields(Figures))


@dataclass(frozen=True)
class EmployeeRow(Figures):
    employee_id: int | None = None
    employee: str = ""  # name; "" for records without an employee
    userid: str | None = None
    department_id: int | None = None
    department: str | None = None


@dataclass(frozen=True)
class DepartmentRow(Figures):
    department_id: int | None = None
    department: str | None = None
    employees: int = 0  # employees listed for it


@dataclass(frozen=True)
class LostReason:
    employee_id: int | None
    employee: str
    department: str | None
    reason: str
    customers: int  # distinct customers lost for this reason by this employee


@dataclass(frozen=True)
class MonthlyReport:
    month: date
    start: datetime  # UTC, included
    end: datetime  # UTC, excluded
    employees: list[EmployeeRow]
    departments: list[DepartmentRow]
    reasons: list[LostReason]
    total: Figures  # over everything in the report (customers counted once)

    @property
    def empty(self) -> bool:
        return self.total.followups == 0


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_bounds(month: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where the local month starts (included) and ends (excluded)."""
    start = datetime.combine(first_of_month(month), time(), zone)
    end = datetime.combine(next_month(first_of_month(month)), time(), zone)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def _distinct_with(outcome: str):
    return func.count(distinct(case((FollowUp.outcome == outcome, FollowUp.customer_id))))


def _figure_columns():
    return (func.count(FollowUp.id).label("followups"),
            func.count(distinct(FollowUp.customer_id)).label("customers"),
            _distinct_with("opportunity").label("opportunities"),
            _distinct_with("nurture").label("nurture"),
            _distinct_with("lost").label("lost"))


def _figures(row) -> dict:
    return {name: int(getattr(row, name) or 0) for name in FIGURES}


def monthly_followups(session, month: date, zone: ZoneInfo, *, employee_id: int | None = None,
                      department_id: int | None = None) -> MonthlyReport:
    start, end = month_bounds(month, zone)

    def scoped(query):
        query = query.where(FollowUp.at >= start, FollowUp.at < end)
        if employee_id is not None:
            query = query.where(FollowUp.employee_id == employee_id)
        if department_id is not None:
            query = query.where(Employee.department_id == department_id)
        return query

    base = select(*_figure_columns()).select_from(FollowUp).outerjoin(
        Employee, Employee.id == FollowUp.employee_id)
    per_employee = {row.employee_id: _figures(row) for row in session.execute(
        scoped(base.add_columns(FollowUp.employee_id)).group_by(FollowUp.employee_id))}
    per_department = {row.department_id: _figures(row) for row in session.execute(
        scoped(base.add_columns(Employee.department_id)).group_by(Employee.department_id))}
    total = Figures(**_figures(session.execute(scoped(base)).one()))

    employees = _employee_rows(session, per_employee, employee_id, department_id)
    departments = _department_rows(per_department, employees)
    lost = (select(FollowUp.employee_id, func.trim(FollowUp.lost_reason).label("reason"),
                   func.count(distinct(FollowUp.customer_id)).label("customers"))
            .select_from(FollowUp).outerjoin(Employee, Employee.id == FollowUp.employee_id)
            .where(FollowUp.outcome == "lost")
            .group_by(FollowUp.employee_id, func.trim(FollowUp.lost_reason)))
    names = {row.employee_id: row for row in employees}
    reasons = [LostReason(r.employee_id, names[r.employee_id].employee,
                          names[r.employee_id].department, r.reason or "", int(r.customers))
               for r in session.execute(scoped(lost)) if r.employee_id in names]
    reasons.sort(key=lambda r: (r.department or "", r.employee, -r.customers, r.reason))
    return MonthlyReport(first_of_month(month), start, end, employees, departments, reasons,
                         total)


def _employee_rows(session, per_employee: dict, employee_id, department_id) -> list[EmployeeRow]:
    """The employees with records, plus the idle ones in scope, named and sorted."""
    wanted = select(Employee.id, Employee.name, Employee.userid, Employee.department_id,
                    Department.name.label("department")).outerjoin(
        Department, Department.id == Employee.department_id)
    listed = Employee.id.in_([k for k in per_employee if k is not None])
    idle = Employee.active.is_(True) & Employee.role.in_(IDLE_ROLES)
    wanted = wanted.where(listed | idle)
    if employee_id is not None:
        wanted = wanted.where(Employee.id == employee_id)
    if department_id is not None:
        wanted = wanted.where(Employee.department_id == department_id)
    rows = [EmployeeRow(**per_employee.get(e.id, {}), employee_id=e.id, employee=e.name,
                        userid=e.userid, department_id=e.department_id,
                        department=e.department)
            for e in session.execute(wanted)]
    if None in per_employee and employee_id is None and department_id is None:
        rows.append(EmployeeRow(**per_employee[None]))
    rows.sort(key=lambda r: (r.department is None, r.department or "", r.employee_id is None,
                             r.employee, r.userid or ""))
    return rows


def _department_rows(per_department: dict, employees: list[EmployeeRow]) -> list[DepartmentRow]:
    counted: dict[int | None, int] = {}
    names: dict[int | None, str | None] = {}
    for row in employees:
        if row.employee_id is None:
            continue
        counted[row.department_id] = counted.get(row.department_id, 0) + 1
        names[row.department_id] = row.department
    keys = set(counted) | set(per_department)
    rows = [DepartmentRow(**per_department.get(k, {}), department_id=k,
                          department=names.get(k), employees=counted.get(k, 0)) for k in keys]
    rows.sort(key=lambda r: (r.department is None, r.department or ""))
    return rows
