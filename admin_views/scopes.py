"""Row filters for the engine's lists, built on the customer scope of customers.py:
a row about a customer is visible to whoever may see that customer."""
from __future__ import annotations

from flask_login import current_user
from sqlalchemy import false, or_, select

from admin_views.customers import customers_in_scope, own_department_id, own_employee_id
from models import Customer, Employee, FollowUp, Task


def about_visible_customers(query, customer_id):
    """Rows whose `customer_id` column names a customer the current user may see."""
    everyone = select(Customer.id)
    visible = customers_in_scope(everyone)
    if visible is everyone:  # the role sees every customer: no subquery needed
        return query
    return query.filter(customer_id.in_(visible))


def tasks_in_scope(query):
    """Admin and ops see every task. Sales and service see the tasks assigned to them
    and those given to their role (no one person) about customers they may see; a
    manager sees the tasks of everyone in their department and the tasks given to a
    role about the department's customers."""
    role = current_user.role
    if role in ("admin", "ops"):
        return query
    visible_customer = Task.customer_id.in_(customers_in_scope(select(Customer.id)))
    if role == "manager":
        department = own_department_id()
        if department is None:
            return query.filter(false())
        assigned = Task.employee_id.in_(
            select(Employee.id).where(Employee.department_id == department))
        unassigned = Task.employee_id.is_(None) & visible_customer
    else:
        mine = own_employee_id()
        assigned = Task.employee_id == mine if mine else false()
        unassigned = (Task.role == role) & visible_customer
    return query.filter(or_(assigned, unassigned))


def sent_by_visible_staff(query, sender_id):
    """Rows sent by an employee the current user oversees: a manager their department's
    staff, admin and ops everyone (other roles do not open these lists)."""
    if current_user.role in ("admin", "ops"):
        return query
    department = own_department_id() if current_user.role == "manager" else None
    if department is None:
        return query.filter(false())
    return query.filter(sender_id.in_(
        select(Employee.id).where(Employee.department_id == department)))


def own_staff(employee_id):
    """`employee_id` names the current user's own employee or, for a manager, one of
    their department's staff (false when the user has neither)."""
    if current_user.role == "manager":
        department = own_department_id()
        if department is None:
            return false()
        return employee_id.in_(select(Employee.id).where(Employee.department_id == department))
    mine = own_employee_id()
    return employee_id == mine if mine else false()


def followups_in_scope(query):
    """Follow-up records about customers the user may see; for sales also the records
    they logged, for a manager those their department's staff logged; admin and ops
    see all of them."""
    role = current_user.role
    if role in ("admin", "ops"):
        return query
    about_visible = FollowUp.customer_id.in_(customers_in_scope(select(Customer.id)))
    if role in ("sales", "manager"):
        return query.filter(or_(about_visible, own_staff(FollowUp.employee_id)))
    return query.filter(about_visible)


def visible_customer_ids():
    """A SELECT of the customer ids the current user may see; None when that is everyone
    (the data pages' services then add no filter at all)."""
    everyone = select(Customer.id)
    scoped = customers_in_scope(everyone)
    return None if scoped is everyone else scoped
