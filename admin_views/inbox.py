"""The inbox (收件箱, SPEC §1, §5): what the signed-in employee has to do.

Open tasks in three groups by due time in the enterprise time zone: today, overdue
(past their deadline; without one, due before today; split by age) and upcoming. The
overview shows the first few cards of each group with its count; a group's own view
pages through all of it. Each card shows its text ready to copy, the attachments of
its step or reminder, the customers it is about (with one customer: tier, stage, last
follow-up and last message) and a Done button (a POST with the CSRF token) that calls
`jobs.sender.mark_task_done`: a send task's queued deliveries become `sent`. Send
tasks can also be marked done together (ticked, one POST).

Rows follow `tasks_in_scope`: sales and service see their own tasks and those given
to their role, a manager their department's, ops and admin everyone's. Only a user
who sees a task may mark it done (403 otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.helpers import get_redirect_target
from flask_babel import gettext, lazy_gettext as _l, ngettext
from flask_login import current_user
from sqlalchemy import and_, func
from sqlalchemy.orm import joinedload

from admin_views.base import SecuredView
from admin_views.choices import (
    CUSTOMER_ROLES, ROLE_LABELS, TIER_LABELS, local_minutes, local_zone,
)
from admin_views.inbox_cards import Card, cards_for
from admin_views.scopes import tasks_in_scope
from admin_views.tasks import TASK_KIND_LABELS
from jobs.crm_rules import late
from jobs.sender import mark_task_done
from models import Task, db
from models.base import utcnow

SECTION_CAP = 10  # the overview: this many cards per group, then a link to all of them
PAGE_SIZE = 20  # a group's own view: cards per page
BULK_CAP = 200  # send tasks marked done in one POST
SENDING_KINDS = ("send", "reminder")  # tasks that carry messages to send
GROUPS = (("today", _l("Today")), ("overdue", _l("Overdue")), ("upcoming", _l("Upcoming")))
# overdue by age: due at most `newest` .. more than `oldest` local days before today
AGES = (("recent", _l("Up to 1 day"), None, 1), ("week", _l("2 to 7 days"), 1, 7),
        ("older", _l("Over a week"), 7, None))


@dataclass
class Section:
    key: str  # today / overdue / upcoming: the CSS hook and the anchor
    title: str
    cards: list[Card]
    total: int  # open tasks in the group (with the age filter: in that age)
    page: int = 0
    pages: int = 1
    ages: tuple = ()  # overdue: (key, label, count) per age

    @property
    def hidden(self) -> int:
        """Open tasks in this group not shown on this page (the overview)."""
        return max(self.total - len(self.cards), 0) if self.pages == 1 else 0

    @property
    def sending(self) -> bool:
        """Whether a card here can be ticked for the bulk Done."""
        return any(c.task.kind in SENDING_KINDS for c in self.cards)


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


def age_clause(now: datetime, key: str):
    """The overdue tasks of one age (AGES): by the local day they were due."""
    start, _ = day_bounds(now)
    _, _, newer_than, back_to = next(a for a in AGES if a[0] == key)
    clauses = []
    if newer_than is not None:
        clauses.append(Task.due_at < start - timedelta(days=newer_than))
    if back_to is not None:
        clauses.append(Task.due_at >= start - timedelta(days=back_to))
    return and_(*clauses)


def open_tasks():
    """The open tasks the current user may see (and mark done)."""
    return tasks_in_scope(db.session.query(Task).filter(Task.status == "open"))


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
        group = request.args.get("group")
        group = group if group in where else None
        age = request.args.get("age") if group == "overdue" else None
        age = age if age in {a[0] for a in AGES} else None
        counts = dict(open_tasks().with_entities(Task.kind, func.count(Task.id))
                      .group_by(Task.kind).order_by(None).all())
        base = open_tasks().options(joinedload(Task.employee), joinedload(Task.customer))
        if kind:
            base = base.filter(Task.kind == kind)
        if flagged:
            base = base.filter(Task.escalated_at.is_not(None))
        totals = {key: base.filter(where[key]).order_by(None).count() for key, _ in GROUPS}
        sections = [self.section(base, where, key, title, totals[key], now, group, age)
                    for key, title in GROUPS if group in (None, key)]
        return self.render("admin/inbox.html", sections=sections, group=group, age=age,
                           totals=totals, groups=GROUPS,
                           empty=not any(totals.values()),
                           kind_labels=TASK_KIND_LABELS, local_time=self.local_time,
                           local_day=self.local_day, overdue_days=self.overdue_days(now),
                           tier_labels=TIER_LABELS,
                           assignee=self.assignee, customer_url=self.customer_url,
                           link=self.link,
                           can_review=current_user.role in ("admin", "manager"),
                           kind=kind, flagged=flagged, kind_counts=counts)

    @staticmethod
    def section(base, where, key, title, total, now, group, age) -> Section:
        """One group: on the overview its first cards; in its own view one page of it."""
        query = base.filter(where[key])
        section = Section(key, str(title), [], total)
        if key == "overdue":
            section.ages = tuple((a, label, query.filter(age_clause(now, a)).order_by(None)
                                  .count()) for a, label, _, _ in AGES) if total else ()
            if age:
                query = query.filter(age_clause(now, age))
                section.total = next(n for a, _, n in section.ages if a == age)
        order = (Task.due_at, Task.id)
        if group is None:
            rows = query.order_by(*order).limit(SECTION_CAP).all() if total else []
        else:
            section.pages = max((section.total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
            section.page = min(page_arg(), section.pages - 1)
            rows = query.order_by(*order).offset(section.page * PAGE_SIZE) \
                .limit(PAGE_SIZE).all()
        section.cards = cards_for(rows)
        return section

    @expose("/done-many/", methods=("POST",))
    def done_many_view(self):
        """Mark the ticked send tasks done: only open send or reminder tasks the user sees;
        each is audited as one Done would be."""
        raw = request.form.getlist("id")
        if len(raw) > BULK_CAP or not all(r.isascii() and r.isdigit() and len(r) < 19
                                          for r in raw):
            abort(400)
        back = get_redirect_target() or url_for(".index")
        ids = sorted({int(r) for r in raw})
        tasks = open_tasks().filter(Task.id.in_(ids), Task.kind.in_(SENDING_KINDS)) \
            .order_by(Task.id).all() if ids else []
        if not tasks:
            flash(gettext("Tick the send tasks to mark done first."), "warning")
            return redirect(back)
        done = sent = 0
        for task in tasks:
            count = mark_task_done(db.session, task, utcnow(), by=current_user.username)
            done, sent = done + 1, sent + count
        db.session.commit()
        flash(ngettext("%(num)d send task marked done, %(sent)d messages marked sent.",
                       "%(num)d send tasks marked done, %(sent)d messages marked sent.",
                       done, sent=sent), "success")
        if len(ids) > done:
            flash(ngettext("%(num)d ticked task was left as it is (done already, not a send "
                           "task or not yours).", "%(num)d ticked tasks were left as they are "
                           "(done already, not send tasks or not yours).", len(ids) - done),
                  "warning")
        return redirect(back)

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
    def local_day(value) -> str:
        return value.astimezone(local_zone()).strftime("%m-%d") if value is not None else ""

    @staticmethod
    def overdue_days(now: datetime):
        """How many local days ago a task was due (0: today)."""
        today = now.astimezone(local_zone()).date()
        return lambda task: (today - task.due_at.astimezone(local_zone()).date()).days

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
