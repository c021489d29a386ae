"""Inbox tasks over the API (SPEC §8).

`GET /api/v1/tasks?employee=&status=&limit=&offset=`: the tasks the token's user may
see (the admin's task rules), by due time then id; `customers` are the external ids
of the task's deliveries (a send task: its batch), or its one customer.
`POST /api/v1/tasks/<id>/done` (optional `{"at": ISO 8601}`): the employee sent it;
a send task's queued deliveries become `sent`. Marking a done task again answers
`"sent": 0` and changes nothing; a cancelled task cannot be done (409).
"""
from __future__ import annotations

from flask import g, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from api.blueprint import ApiError, api_bp, roles_required
from api.scope import at_from, iso, json_body, status_and_page, visible_tasks
from jobs.core.vocab import TASK_STATUSES
from jobs.sender import mark_task_done
from models import Customer, Delivery, Employee, Task, db

TASK_ROLES = ("ops", "manager", "sales", "service")  # rows still filtered (admin always)


def employee_by_userid(userid: str) -> Employee:
    employee = db.session.scalar(select(Employee).where(Employee.userid == userid))
    if employee is None:
        raise ApiError(404, "not_found", f"employee: no employee {userid!r}")
    return employee


def customers_of(tasks) -> dict[int, list[str]]:
    """External ids per task: its deliveries' customers in delivery order, else its one
    customer. One query for the whole page."""
    ids = [t.id for t in tasks]
    found: dict[int, list[str]] = {}
    if ids:
        for task_id, external_id in db.session.execute(
                select(Delivery.task_id, Customer.external_id)
                .join(Customer, Customer.id == Delivery.customer_id)
                .where(Delivery.task_id.in_(ids)).order_by(Delivery.task_id, Delivery.id)):
            found.setdefault(task_id, []).append(external_id)
    return {t.id: found.get(t.id) or ([t.customer.external_id] if t.customer else [])
            for t in tasks}


def task_dict(task: Task, customers: list[str]) -> dict:
    return {
        "id": task.id, "kind": task.kind,
        "employee": task.employee.userid if task.employee else None, "role": task.role,
        "customers": customers, "title": task.title, "text": task.text,
        "due_at": iso(task.due_at), "deadline_at": iso(task.deadline_at),
        "status": task.status, "done_at": iso(task.done_at),
        "rule": task.rule, "escalated_at": iso(task.escalated_at),
    }


@api_bp.get("/tasks")
@roles_required(*TASK_ROLES)
def list_tasks():
    status, limit, offset = status_and_page(TASK_STATUSES)
    query = select(Task).where(visible_tasks()).options(
        joinedload(Task.employee), joinedload(Task.customer))
    if request.args.get("employee"):
        query = query.where(Task.employee_id == employee_by_userid(request.args["employee"]).id)
    if status:
        query = query.where(Task.status == status)
    tasks = db.session.scalars(
        query.order_by(Task.due_at, Task.id).limit(limit).offset(offset)).all()
    customers = customers_of(tasks)
    return jsonify([task_dict(t, customers[t.id]) for t in tasks])


@api_bp.post("/tasks/<int:task_id>/done")
@roles_required(*TASK_ROLES)
def task_done(task_id: int):
    """Only someone who sees the task (its assignee, their manager, ops, admin) may
    mark it done; a task outside the user's rows answers 404, as if it did not exist."""
    now = at_from(json_body(("at",)))
    task = db.session.scalar(select(Task).where(Task.id == task_id, visible_tasks()))
    if task is None:
        raise ApiError(404, "not_found", f"task: no task {task_id}")
    if task.status == "cancelled":
        raise ApiError(409, "conflict", f"task {task_id} is cancelled")
    sent = mark_task_done(db.session, task, now, by=g.api_user.username)
    db.session.commit()
    return jsonify({"id": task.id, "status": task.status, "sent": sent})
