"""Rows for the inbox and tasks tests, built directly with the models: a send task as
the `task` channel leaves it (an SOP step, its batch `queued`, one delivery per
customer `queued`, the task open in the sender's inbox)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from models import (
    Customer, Delivery, Employee, Enrollment, Material, SendBatch, Sop, SopStep, Task, db,
)
from models.audit import acting_as
from models.base import utcnow
from tests.conftest import csrf_token_from, make_employee, make_user


def customer(external_id: str, owner: Employee | None, name: str | None = None) -> Customer:
    row = db.session.scalar(select(Customer).where(Customer.external_id == external_id))
    if row is None:
        row = Customer(external_id=external_id, name=name or f"Name of {external_id}",
                       owner_id=owner.id if owner else None)
        db.session.add(row)
        db.session.flush()
    return row


def sop_with_step(key: str = "care", text: str = "Step text",
                  attachments: tuple[Material, ...] = ()) -> tuple[Sop, SopStep]:
    sop = db.session.scalar(select(Sop).where(Sop.key == key))
    if sop is None:
        sop = Sop(key=key, name=f"SOP {key}", kind="nurture", status="running")
        db.session.add(sop)
        db.session.flush()
    position = len(db.session.scalars(select(SopStep).where(SopStep.sop_id == sop.id)).all())
    step = SopStep(sop=sop, position=position, day=position, at_time="10:00",
                   action="message", text=text, attachments=list(attachments))
    db.session.add(step)
    db.session.flush()
    return sop, step


def enrollment(sop: Sop, row: Customer) -> Enrollment:
    found = db.session.scalar(select(Enrollment).where(
        Enrollment.sop_id == sop.id, Enrollment.customer_id == row.id))
    if found is None:
        found = Enrollment(sop_id=sop.id, customer_id=row.id, status="active",
                           enrolled_at=utcnow(), day0=date.today())
        db.session.add(found)
        db.session.flush()
    return found


def send_task(sender: Employee, external_ids: list[str], due_at: datetime, *,
              text: str = "Hello, here is our spring offer.", sop_key: str = "care",
              attachments: tuple[Material, ...] = (), deadline_at: datetime | None = None,
              delivery_status: str = "queued") -> Task:
    """A `send` task carrying one queued delivery per customer (owned by the sender)."""
    with acting_as("test"):
        sop, step = sop_with_step(sop_key, text, attachments)
        task = Task(kind="send", status="open", employee_id=sender.id, sop_id=sop.id,
                    title=sop.name, text=text, due_at=due_at, deadline_at=deadline_at,
                    created_at=utcnow())
        db.session.add(task)
        db.session.flush()
        batch = SendBatch(sop_id=sop.id, step_id=step.id, sender_id=sender.id, channel="task",
                          seq=0, due_at=due_at, not_before=due_at, status="queued",
                          size=len(external_ids), attempts=1, task_id=task.id,
                          msgid=f"task {task.id}", queued_at=utcnow())
        db.session.add(batch)
        db.session.flush()
        for external_id in external_ids:
            row = customer(external_id, sender)
            db.session.add(Delivery(
                customer_id=row.id, sop_id=sop.id, enrollment_id=enrollment(sop, row).id,
                step_id=step.id, position=step.position, action="message",
                sender_id=sender.id, due_at=due_at, first_due_at=due_at, batch_id=batch.id,
                status=delivery_status, text=text, task_id=task.id, queued_at=utcnow()))
        db.session.commit()
    return task


def plain_task(title: str, due_at: datetime, *, employee: Employee | None = None,
               role: str | None = None, about: Customer | None = None, kind: str = "followup",
               status: str = "open", deadline_at: datetime | None = None) -> Task:
    """A task without deliveries (a follow-up, a request ...), about at most one customer."""
    with acting_as("test"):
        task = Task(kind=kind, status=status, title=title, text=f"Text of {title}",
                    employee_id=employee.id if employee else None, role=role,
                    customer_id=about.id if about else None, due_at=due_at,
                    deadline_at=deadline_at)
        db.session.add(task)
        db.session.commit()
    return task


def material(key: str, kind: str = "link", url: str | None = None,
             content: str | None = None) -> Material:
    row = Material(key=key, kind=kind, title=f"Title {key}", url=url, content=content)
    db.session.add(row)
    db.session.flush()
    return row


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


# --- shared by the inbox and batch screen tests (fixtures: import them by name) ---
INBOX, DONE = "/admin/inbox/", "/admin/inbox/done/"


@pytest.fixture
def staff():
    """zhangsan and wangwu (华东销售, boss manages it), lisi (华南销售, far manages it)."""
    people = {userid: make_employee(userid, department=dep) for userid, dep in (
        ("zhangsan", "华东销售"), ("wangwu", "华东销售"), ("lisi", "华南销售"))}
    people["boss"] = make_employee("boss", department="华东销售", role="manager")
    people["far"] = make_employee("far", department="华南销售", role="manager")
    db.session.commit()
    for username, role, userid in (("zhang", "sales", "zhangsan"), ("li", "sales", "lisi"),
                                   ("boss", "manager", "boss"), ("far", "manager", "far")):
        make_user(username, role, people[userid])
    return people


def now_today() -> datetime:
    """Now: due today (Shanghai) and not past its deadline (it has none)."""
    return utcnow()


@pytest.fixture
def offer(staff):
    """zhangsan's send task: three customers, two attachments (one with a bad scheme)."""
    link = material("spring-page", url="https://example.com/spring")
    snippet = material("terms", kind="text", content="Valid until May.")
    sneaky = material("sneaky", url="javascript:alert(1)")
    return send_task(staff["zhangsan"], ["wx-a", "wx-b", "wx-c"], now_today(),
                     text="Spring offer:\n<b>20% off</b> for you", attachments=(link, snippet, sneaky))


def html_of(resp) -> str:
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def press_done(client, task_id: int, page: str = INBOX):
    token = csrf_token_from(html_of(client.get(page)))
    return client.post(DONE, data={"csrf_token": token, "id": str(task_id), "url": page},
                       follow_redirects=True)
