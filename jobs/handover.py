"""Hand due messages and reminders to the employees' inboxes (the `task` channel).

Until the quota planner and batched sender land (the delivery issue), `flask sop
send` does this: every pending message or reminder due by `now`, of a running SOP
or an enabled journey, becomes part of one inbox task per (SOP step or reminder,
sender), and its delivery is `queued`. A customer with no owner is held (stays
pending): nothing is sent from nobody.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import or_, select, update

from models import Delivery, Journey, JourneyReminder, Sop, SopStep, Task


def hand_over(session, now: datetime) -> dict:
    rows = session.execute(
        select(Delivery.id, Delivery.sop_id, Delivery.step_id, Delivery.journey_id,
               Delivery.reminder_id, Delivery.sender_id, Delivery.due_at)
        .outerjoin(Sop, Sop.id == Delivery.sop_id)
        .outerjoin(Journey, Journey.id == Delivery.journey_id)
        .where(Delivery.status == "pending", Delivery.action.in_(("message", "reminder")),
               Delivery.due_at <= now, Delivery.sender_id.is_not(None),
               or_(Sop.status == "running", Journey.enabled))
        .order_by(Delivery.due_at, Delivery.id)).all()
    groups: dict[tuple, list] = defaultdict(list)
    for row in rows:
        key = (row.sop_id, row.step_id, row.journey_id, row.reminder_id, row.sender_id)
        groups[key].append(row)
    for (sop_id, step_id, journey_id, reminder_id, sender_id), items in groups.items():
        if step_id is not None:
            step = session.get(SopStep, step_id)
            kind, text, title = "send", step.text, step.sop.name
        else:
            reminder = session.get(JourneyReminder, reminder_id)
            kind, text, title = "reminder", reminder.text, reminder.stage.name
        task = Task(kind=kind, employee_id=sender_id, sop_id=sop_id, journey_id=journey_id,
                    title=title, text=text, due_at=items[0].due_at)
        session.add(task)
        session.flush()
        session.execute(
            update(Delivery).where(Delivery.id.in_([r.id for r in items]))
            .values(status="queued", queued_at=now, task_id=task.id, text=text)
            .execution_options(synchronize_session=False))
    return {"at": now.isoformat(), "deliveries": len(rows), "tasks": len(groups)}
