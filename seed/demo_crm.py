"""The demo's CRM work during the replay: what the staff did with their follow-up
tasks, reviews and requests, so the inbox, the follow-up records and the reports
open with content (and with some overdue work left)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs import crm_tasks
from jobs.events import apply_events
from jobs.sender import mark_task_done
from models import Customer, Employee, Task

METHODS = ("phone", "wecom", "visit", "online_meeting", "email")
OUTCOMES = ("none", "opportunity", "none", "nurture", "opportunity", "none", "lost")
POINTS = ("介绍防晒新品与使用方法", "确认到货与使用感受", "沟通复购优惠", "了解门店合作意向",
          "回访售后问题处理结果")
LOST_REASONS = ("预算不足", "选择了竞品", "暂无需求")
CHUNK = 500  # events per call (the API's limit is 1,000)
REQUESTS = ((3, "补开发票"), (8, "更换收货地址"), (15, "申请试用装"), (19, "咨询批量采购价格"))


def staff_work(session: Session, moment: datetime, day: int) -> None:
    """Like a real team: SOP step, send and reminder tasks done within hours of being due
    (every twelfth is left overdue), follow-ups logged for most tasks a day old (every
    twelfth left), most reviews decided, a request now and then."""
    late = moment - timedelta(days=1)
    for task in session.scalars(select(Task).where(
            Task.kind.in_(("step", "send", "reminder")), Task.status == "open",
            Task.due_at < moment - timedelta(hours=6))):
        if task.id % 12 == 0 or task.employee is None:
            continue
        mark_task_done(session, task, task.due_at + timedelta(hours=1 + task.id % 4),
                       by=task.employee.userid)
    events = []
    for task in session.scalars(select(Task).where(
            Task.rule == "cadence", Task.status == "open", Task.due_at < late)):
        if task.id % 12 == 0:
            continue
        outcome = OUTCOMES[task.id % len(OUTCOMES)]
        event = {"type": "followup_logged", "external_id": task.customer.external_id,
                 "id": f"demo-followup-{task.id}", "method": METHODS[task.id % len(METHODS)],
                 "key_points": POINTS[task.id % len(POINTS)], "outcome": outcome,
                 "feedback": "客户反馈良好" if outcome != "lost" else "暂不考虑",
                 "at": (task.due_at + timedelta(hours=3)).isoformat()}
        if outcome == "lost":
            event["lost_reason"] = LOST_REASONS[task.id % len(LOST_REASONS)]
        events.append(event)
    for start in range(0, len(events), CHUNK):
        apply_events(session, events[start:start + CHUNK], moment)
    for task in session.scalars(select(Task).where(
            Task.rule == "review", Task.status == "open", Task.due_at < late)):
        if task.id % 9 == 0 or task.customer is None:
            continue  # left pending: some overdue reviews for the managers
        approve = task.id % 5 != 0
        crm_tasks.decide(session, task.customer, approve, None if approve else "缺少联系电话",
                         task.due_at + timedelta(hours=5), by="seed")
    for on_day, title in REQUESTS:
        if day == on_day:
            _request(session, title, moment)


def _request(session: Session, title: str, moment: datetime) -> None:
    customer = session.scalar(select(Customer).where(Customer.owner_id.is_not(None))
                              .order_by(Customer.id.desc()).limit(1))
    service = session.scalar(select(Employee).where(Employee.role == "service",
                                                    Employee.active.is_(True))
                             .order_by(Employee.id).limit(1))
    if customer is not None and service is not None:
        crm_tasks.create_request(session, customer, service, title, "客户在企微中提出", moment)
