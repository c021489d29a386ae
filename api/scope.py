"""What the token's user may see, and the request parsing the engine endpoints share.

Row rules (SPEC §7): sales see their own customers (owner = their employee),
managers the customers owned in their department, everyone else all of them; a
user who should be linked to an employee and is not sees none. A row outside the
user's scope answers 404, as if it did not exist.
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import g, request
from sqlalchemy import ColumnElement, false, or_, select, true

from api.blueprint import ApiError
from jobs.events import parse_time
from models import Customer, Employee, Sop, Task, db
from models.base import utcnow

READ_ROLES = ("ops", "manager", "sales", "service", "finance")  # rows still filtered
NO_MONEY_ROLES = ("service",)  # service sees contact data, no amounts (SPEC §7)


def visible_customers() -> ColumnElement[bool]:
    """A WHERE clause on Customer: the rows the current API user may see."""
    user = g.api_user
    if user.role == "sales":
        return Customer.owner_id == user.employee_id if user.employee_id else false()
    if user.role == "manager":
        department = user.employee.department_id if user.employee else None
        if department is None:
            return false()
        return Customer.owner_id.in_(select(Employee.id).where(
            Employee.department_id == department))
    return true()


def visible_tasks() -> ColumnElement[bool]:
    """A WHERE clause on Task, as the admin's task list: admin and ops see every task;
    sales and service their own and those given to their role about customers they may
    see; a manager the tasks of their department's staff and those given to a role about
    the department's customers."""
    user = g.api_user
    if user.role in ("admin", "ops"):
        return true()
    about_visible = Task.customer_id.in_(select(Customer.id).where(visible_customers()))
    if user.role == "manager":
        department = user.employee.department_id if user.employee else None
        if department is None:
            return false()
        assigned = Task.employee_id.in_(
            select(Employee.id).where(Employee.department_id == department))
        return or_(assigned, Task.employee_id.is_(None) & about_visible)
    assigned = Task.employee_id == user.employee_id if user.employee_id else false()
    return or_(assigned, (Task.role == user.role) & about_visible)


def sees_money() -> bool:
    return g.api_user.role not in NO_MONEY_ROLES


def visible_customer(external_id: str, name: str = "customer") -> Customer:
    customer = db.session.scalar(select(Customer).where(
        Customer.external_id == external_id, visible_customers()))
    if customer is None:
        raise ApiError(404, "not_found", f"{name}: no customer {external_id!r}")
    return customer


def sop_by_key(key: str, name: str = "sop") -> Sop:
    sop = db.session.scalar(select(Sop).where(Sop.key == key))
    if sop is None:
        raise ApiError(404, "not_found", f"{name}: no SOP with key {key!r}")
    return sop


def iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant is not None else None


# --- request parsing ---------------------------------------------------------------
def json_body(allowed: tuple[str, ...]) -> dict:
    """The optional JSON object body; unknown keys are refused, not ignored."""
    if not request.get_data():
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "send a JSON object (or no body)")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ApiError(400, "invalid_parameter",
                       f"{unknown[0]}: unknown field (allowed: {', '.join(allowed)})")
    return body


def at_from(values: dict) -> datetime:
    """`at` (ISO 8601 with an offset) from a body or the query string; default now."""
    if values.get("at") is None:
        return utcnow()
    try:
        return parse_time(values["at"]).astimezone(timezone.utc)
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", f"at: {exc}") from None


DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def status_and_page(statuses) -> tuple[str | None, int, int]:
    """A list endpoint's `status` (one of `statuses`), `limit` and `offset`, checked."""
    status = request.args.get("status")
    if status and status not in statuses:
        raise ApiError(400, "invalid_parameter", f"status: must be one of {', '.join(statuses)}")
    return (status, int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
            int_arg("offset", 0, 0, 2**31 - 1))


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ApiError(400, "invalid_parameter",
                       f"{name}: must be a whole number from {low} to {high}")
    return value
