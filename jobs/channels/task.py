"""The `task` channel (default): the batch becomes one task in the sender's inbox.

The employee sends by hand and confirms with one click (`POST /tasks/<id>/done`,
the inbox button); only then are the deliveries `sent`. The task is written in the
same transaction that records the outcome, so there is never one without the other.
"""
from __future__ import annotations

from models import Task

from jobs.channels import Content, Outcome


class TaskChannel:
    name = "task"

    def deliver(self, session, batch, recipients, content: Content, now) -> Outcome:
        sends = batch.sop_id or batch.group_send_id  # else a journey reminder
        task = Task(kind="send" if sends else "reminder", status="open",
                    employee_id=batch.sender_id, sop_id=batch.sop_id,
                    journey_id=batch.journey_id, title=content.title, text=content.text,
                    due_at=batch.not_before, created_at=now,
                    customer_id=recipients[0].customer_id if len(recipients) == 1 else None)
        session.add(task)
        session.flush()
        return Outcome(ref=f"task {task.id}", task_id=task.id)

    def find_previous(self, session, batch, recipients, content):
        return None  # the task commits with the outcome: an unrecorded one never existed
