"""The periodic CRM rules of SPEC §6, run by the tick with `now` passed in.

- churn warning: a customer whose last purchase is `churn_warning_days` old gets a
  follow-up task for the owner (once per purchase gap);
- dormant: no interaction for `dormant_after_days` -> churn status `dormant`
  (journalled, so SOP and journey rules see it; listed for the quarterly review);
- escalation: an open task past its deadline (without one: due before today) is
  flagged to the manager once (`escalated_at`), as the inbox lists it overdue;
- prospects with fewer than `prospect_min_followups` follow-ups in the last
  `prospect_window_days` are listed as violations (`prospect_violations`, a query
  read by the admin list: nothing to store).
Churn and dormancy look only at customers whose date crossed the threshold since the
last run (a watermark in `rule_runs`), so a run costs what changed, not every customer.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, insert, or_, select, update
from sqlalchemy.orm import aliased

from jobs.core.buckets import midnight
from jobs.core.due import local_date
from jobs.customer_writes import chunks, journal
from models import Customer, FollowUp, RuleRun, Settings, Task
from models.one_of import one_of

CHURN_TITLE = "流失预警：{days} 天未购买"  # data, like a step's title
DORMANT = {"churn_status": {"from": "normal", "to": "dormant"}}
ESCALATED_KINDS = ("send", "reminder", "step", "followup", "request", "review")


def _window(session, name: str, cutoff: datetime):
    """(previous cutoff or None, cutoff); the new cutoff is stored for the next run."""
    run = session.get(RuleRun, name)
    previous = run.ran_at if run is not None else None
    if run is None:
        session.add(RuleRun(name=name, ran_at=cutoff))
    elif cutoff > run.ran_at:
        run.ran_at = cutoff
    return previous


def _crossed(column, previous, cutoff):
    return and_(column <= cutoff, column > previous) if previous is not None else column <= cutoff


def churn_warnings(session, settings: Settings, now: datetime) -> int:
    """A task for the owner of each customer without a purchase for N days."""
    cutoff = now - timedelta(days=settings.churn_warning_days)
    previous = _window(session, "churn_warning", cutoff)
    if previous is not None and previous >= cutoff:
        return 0
    open_warning = aliased(Task)
    due = session.execute(select(Customer.id, Customer.owner_id).where(
        _crossed(Customer.last_purchase_at, previous, cutoff),
        Customer.churn_status != "lost", Customer.owner_id.is_not(None),
        or_(Customer.churn_warned_at.is_(None),
            Customer.churn_warned_at < Customer.last_purchase_at),
        ~exists().where(open_warning.customer_id == Customer.id,
                        open_warning.rule == "churn_warning", open_warning.status == "open"))
    ).all()
    title = CHURN_TITLE.format(days=settings.churn_warning_days)
    if due:
        session.execute(insert(Task), [
            {"kind": "followup", "status": "open", "rule": "churn_warning", "customer_id": c,
             "employee_id": owner, "title": title, "due_at": now, "created_at": now}
            for c, owner in due])
    for part in chunks([c for c, _ in due]):  # the first run may find a great many
        session.execute(update(Customer).where(one_of(Customer.id, part))
                        .values(churn_warned_at=now)
                        .execution_options(synchronize_session=False))
    return len(due)


def mark_dormant(session, settings: Settings, now: datetime) -> int:
    """No interaction (or, never any, no add) for N days: normal -> dormant, journalled."""
    cutoff = now - timedelta(days=settings.dormant_after_days)
    previous = _window(session, "dormant", cutoff)
    if previous is not None and previous >= cutoff:
        return 0
    quiet = or_(_crossed(Customer.last_interaction_at, previous, cutoff),
                and_(Customer.last_interaction_at.is_(None),
                     _crossed(Customer.added_at, previous, cutoff)))
    ids = session.scalars(select(Customer.id).where(quiet, Customer.churn_status == "normal")).all()
    for part in chunks(ids):
        session.execute(update(Customer).where(one_of(Customer.id, part))
                        .values(churn_status="dormant", dormant_since=now, updated_at=now)
                        .execution_options(synchronize_session=False))
    journal(session, [(c, "updated", DORMANT) for c in ids], now, source="rule")
    return len(ids)


def late(now: datetime, tz) -> ColumnElement[bool]:
    """A task is late past its deadline (an SLA) or, without one, from the day after it
    was due — one definition for the inbox's "overdue", the tasks filter, the
    dashboard and the escalation."""
    today = midnight(local_date(now, tz), tz)
    return or_(and_(Task.deadline_at.is_not(None), Task.deadline_at < now),
               and_(Task.deadline_at.is_(None), Task.due_at < today))


def escalate_overdue(session, now: datetime, tz) -> int:
    """Flag each overdue open task to the manager, once."""
    return session.execute(
        update(Task).where(Task.status == "open", Task.escalated_at.is_(None),
                           Task.kind.in_(ESCALATED_KINDS), late(now, tz))
        .values(escalated_at=now).execution_options(synchronize_session=False,
                                                    preserve_rowcount=True)).rowcount or 0


def prospect_stage(settings: Settings) -> str | None:
    stages = list(settings.lifecycle_stages or ())
    return settings.prospect_stage or (stages[0] if stages else None)


def prospect_violations(settings: Settings, now: datetime):
    """SELECT (customer id, follow-ups in the window) of prospects who, after at least a
    full window as customers, had fewer follow-ups in it than required."""
    since = now - timedelta(days=settings.prospect_window_days)
    counted = (select(func.count(FollowUp.id)).where(
        FollowUp.customer_id == Customer.id, FollowUp.at > since, FollowUp.at <= now)
        .correlate(Customer).scalar_subquery())
    return (select(Customer.id, counted.label("followups"))
            .where(Customer.lifecycle_stage == prospect_stage(settings),
                   Customer.churn_status != "lost", Customer.added_at <= since,
                   counted < settings.prospect_min_followups))

