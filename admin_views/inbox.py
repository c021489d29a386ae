"""The inbox (收件箱, SPEC §1, §5): what the signed-in employee has to do.

Open tasks in three groups by due time in the enterprise time zone: overdue (past
their deadline; without one, due before today), today and upcoming (paged). Each shows its
text ready to copy, the attachments of its step or reminder, the customers it is
about and a Done button (a POST with the CSRF token) that calls
`jobs.sender.mark_task_done`: a send task's queued deliveries become `sent`.

Rows follow `tasks_in_scope`: sales and service see their own tasks and those given
to their role, a manager their department's, ops and admin everyone's. Only a user
who sees a task may mark it done (403 otherwise).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.helpers import get_redirect_target
from flask_babel import gettext, lazy_gettext as _l, ngettext
from flask_login import current_user
from sqlalchemy import and_, func, select
from sqlalchemy.orm import joinedload, selectinload

from admin_views.base import SecuredView
from admin_views.choices import CUSTOMER_ROLES, ROLE_LABELS, local_minutes, local_zone
from admin_views.scopes import tasks_in_scope
from admin_views.tasks import TASK_KIND_LABELS
from jobs.crm_rules import late
from jobs.sender import mark_task_done
from models import Customer, Delivery, JourneyReminder, SopStep, Task, db
from models.base import utcnow

SECTION_CAP = 100  # overdue and today: at most this many cards, then "N more"
PAGE_SIZE = 50  # upcoming: cards per page
CUSTOMER_CAP = 50  # customers listed on one card, then "and N more"
SENDING_KINDS = ("send", "reminder")  # tasks that carry messages to send


@dataclass
class Card:
    task: Task
    customers: list = field(default_factory=list)  # (id, name, external_id)
    more_customers: int = 0
    attachments: list = field(default_factory=list)  # Material rows


@dataclass
class Section:
    key: str  # overdue / today / upcoming: the CSS hook and the anchor
    title: str
    cards: list[Card]
    total: int
    page: int = 0
    pages: int = 1

    @property
    def hidden(self) -> int:
        """Open tasks in this group not shown on this page."""
        return max(self.total - len(self.cards), 0) if self.pages == 1 else 0


def day_bounds(now: datetime) -> tuple[datetime, datetime]:
    """Start of today and of tomorrow in the enterprise zone, as UTC instants."""
    zone = local_zone()
    today = now.astimezone(zone).date()
    start = datetime.combine(today, time(), zone).astimezone(timezone.utc)
    end = datetime.combine(today + timedelta(days=1), time(), zone).astimezone(timezone.utc)
    return start, end


def groups(now: datetime) -> dict:
    """The WHERE clause of each group; every open task is in exactly one."""
    _, end = day_bounds(now)
    overdue = late(now, local_zone())
    in_time = ~overdue
    return {"overdue": overdue,
            "today": and_(in_time, Task.due_at < end),  # due earlier, deadline not yet: today
            "upcoming": and_(in_time, Task.due_at >= end)}


def open_tasks():
    """The open tasks the current user may see (and mark done)."""
    return tasks_in_scope(db.session.query(Task).filter(Task.status == "open"))


def customers_of(task_ids: list[int]) -> tuple[dict, dict]:
    """The first CUSTOMER_CAP customers of each task's deliveries, and how many in all:
    two queries for the whole page, however big the batches."""
    if not task_ids:
        return {}, {}
    ranked = select(
        Delivery.task_id, Delivery.customer_id,
        func.row_number().over(partition_by=Delivery.task_id, order_by=Delivery.id).label("n"),
    ).where(Delivery.task_id.in_(task_ids)).subquery()
    listed: dict[int, list] = {}
    for task_id, *customer in db.session.execute(
            select(ranked.c.task_id, Customer.id, Customer.name, Customer.external_id)
            .join(Customer, Customer.id == ranked.c.customer_id)
            .where(ranked.c.n <= CUSTOMER_CAP).order_by(ranked.c.task_id, ranked.c.n)):
        listed.setdefault(task_id, []).append(tuple(customer))
    totals = dict(db.session.execute(
        select(Delivery.task_id, func.count()).where(Delivery.task_id.in_(task_ids))
        .group_by(Delivery.task_id)).all())
    return listed, totals


def attachments_of(task_ids: list[int]) -> dict[int, list]:
    """The attachments of the step (or journey reminder) each task's deliveries come from,
    as they are now (a send task is one batch: one step)."""
    if not task_ids:
        return {}
    first = select(func.min(Delivery.id)).where(Delivery.task_id.in_(task_ids)) \
        .group_by(Delivery.task_id)
    origin = db.session.execute(select(Delivery.task_id, Delivery.step_id, Delivery.reminder_id)
                                .where(Delivery.id.in_(first))).all()
    step_ids = {r.step_id for r in origin if r.step_id is not None}
    reminder_ids = {r.reminder_id for r in origin if r.reminder_id is not None}
    steps = {s.id: s.attachments for s in db.session.scalars(
        select(SopStep).where(SopStep.id.in_(step_ids))
        .options(selectinload(SopStep.attachments)))} if step_ids else {}
    reminders = {r.id: r.attachments for r in db.session.scalars(
        select(JourneyReminder).where(JourneyReminder.id.in_(reminder_ids))
        .options(selectinload(JourneyReminder.attachments)))} if reminder_ids else {}
    return {r.task_id: list(steps.get(r.step_id) or reminders.get(r.reminder_id) or ())
            for r in origin}


def cards_for(tasks: list[Task]) -> list[Card]:
    ids = [t.id for t in tasks]
    listed, totals = customers_of(ids)
    attachments = attachments_of(ids)
    cards = []
    for task in tasks:
        customers = listed.get(task.id, [])
        total = totals.get(task.id, 0)
        if not customers and task.customer is not None:  # a follow-up, a request ...
            customers, total = [(task.customer.id, task.customer.name,
                                 task.customer.external_id)], 1
        cards.append(Card(task, customers, max(total - len(customers), 0),
                          attachments.get(task.id, [])))
    return cards


def page_arg() -> int:
    raw = request.args.get("page", "0")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 7 else 0


class InboxView(SecuredView):
    roles = ("admin", "ops", "manager", "sales", "service")

    @expose("/")
    def index(self):
        now = utcnow()
        where = groups(now)
        kind = request.args.get("kind")
        kind = kind if kind in TASK_KIND_LABELS else None
        flagged = request.args.get("flagged") == "1"
        counts = dict(open_tasks().with_entities(Task.kind, func.count(Task.id))
                      .group_by(Task.kind).order_by(None).all())
        base = open_tasks().options(joinedload(Task.employee), joinedload(Task.customer))
        if kind:
            base = base.filter(Task.kind == kind)
        if flagged:
            base = base.filter(Task.escalated_at.is_not(None))
        sections = []
        for key, title in (("overdue", _l("Overdue")), ("today", _l("Today")),
                           ("upcoming", _l("Upcoming"))):
            query = base.filter(where[key])
            total = query.order_by(None).count()
            section = Section(key, str(title), [], total)
            if key == "upcoming":
                section.pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
                section.page = min(page_arg(), section.pages - 1)
                rows = query.order_by(Task.due_at, Task.id) \
                    .offset(section.page * PAGE_SIZE).limit(PAGE_SIZE).all()
            else:
                rows = query.order_by(Task.due_at, Task.id).limit(SECTION_CAP).all() \
                    if total else []
            section.cards = cards_for(rows)
            sections.append(section)
        return self.render("admin/inbox.html", sections=sections,
                           empty=not any(s.total for s in sections),
                           kind_labels=TASK_KIND_LABELS, local_time=self.local_time,
                           assignee=self.assignee, customer_url=self.customer_url,
                           link=self.link,
                           can_review=current_user.role in ("admin", "manager"),
                           kind=kind, flagged=flagged, kind_counts=counts)

    @expose("/done/", methods=("POST",))
    def done_view(self):
        raw = request.form.get("id", "")
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
            abort(400)
        task = db.session.get(Task, int(raw))
        if task is None:
            abort(404)
        if tasks_in_scope(db.session.query(Task.id).filter(Task.id == task.id)).first() is None:
            abort(403)  # someone else's task: only its assignee, their manager, ops, admin
        back = get_redirect_target() or url_for(".index")
        if task.status != "open":
            flash(gettext("This task is already %(status)s; nothing was changed.",
                          status=self.status_word(task.status)), "warning")
            return redirect(back)
        sent = mark_task_done(db.session, task, utcnow(), by=current_user.username)
        db.session.commit()
        if task.kind in SENDING_KINDS:
            flash(ngettext("%(num)d message marked sent.", "%(num)d messages marked sent.",
                           sent), "success")
        else:
            flash(gettext("Task marked done."), "success")
        return redirect(back)

    # --- what the template calls --------------------------------------------------------
    @staticmethod
    def local_time(value) -> str:
        return local_minutes(None, value) if value is not None else ""

    @staticmethod
    def status_word(status: str) -> str:
        return str({"done": _l("done"), "cancelled": _l("cancelled")}.get(status, status))

    @staticmethod
    def assignee(task: Task) -> str | None:
        """Who the task is for, when that is not the signed-in user."""
        if task.employee_id is not None and task.employee_id == current_user.employee_id:
            return None
        if task.employee is not None:
            return str(task.employee)
        return str(ROLE_LABELS.get(task.role, task.role or ""))

    @staticmethod
    def link(material) -> str | None:
        """A material's address, only when it is a web address (never javascript: ...)."""
        url = (material.url or "").strip()
        return url if url.lower().startswith(("https://", "http://")) else None

    @staticmethod
    def customer_url(customer_id: int) -> str | None:
        if current_user.role not in CUSTOMER_ROLES:
            return None
        return url_for("customers.details_view", id=customer_id)
