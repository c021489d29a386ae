"""The admin home: what a signed-in user should see first, by role."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import current_app, url_for
from flask_admin import expose
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select

from admin_views.base import SecuredIndexView
from admin_views.calendar import calendar_warning
from admin_views.charts import Chart
from admin_views.choices import (
    CONFIG_ROLES, CUSTOMER_ROLES, OBJECT_LABELS, audit_summary, local_zone,
)
from admin_views.customers import customers_in_scope
from admin_views.scopes import tasks_in_scope, visible_customer_ids
from jobs.analytics import bucket, in_range
from jobs.core.buckets import day_edges
from jobs.counters import aligned, customers_per_bucket, customers_since
from jobs.ops_stats import dashboard, sent_per_day
from models import AuditLog, Customer, Delivery, Journey, Order, Sop, Task, db

OPS_ROLES = ("admin", "ops", "manager")  # the delivery dashboard (deliveries are theirs)


def sop_counts() -> dict[str, int]:
    rows = db.session.execute(select(Sop.status, func.count()).group_by(Sop.status))
    return dict(rows.all())


def list_url(endpoint: str, *filters) -> str:
    """A list screen's URL with filters given as (column, value): the filter's URL
    argument is looked up on the view, so reordering its filters breaks no link."""
    view = next(v for v in current_app.extensions["admin"][0]._views
                if getattr(v, "endpoint", None) == endpoint)
    args = {}
    for n, (column, value) in enumerate(filters):
        index = next(i for i, f in enumerate(view._filters) if f.column is column)
        args[f"flt{n}_{view.get_filter_arg(index, view._filters[index])}"] = value
    return url_for(f"{endpoint}.index_view", **args)


def ops_cards(now: datetime) -> list[tuple]:
    """(title, number, link) of the delivery dashboard, in the user's scope."""
    zone = local_zone()
    board = dashboard(db.session, now, zone, visible_customer_ids(), tasks_in_scope)
    today = now.astimezone(zone).date()
    week = f"{today - timedelta(days=6)} to {today}"
    cards = [
        (_l("Handed to senders today"), board.sent_today,
         list_url("deliveries", (Delivery.queued_at, f"{today} to {today}"))),
        (_l("Deferred by the quota"), board.deferred,
         list_url("deliveries", (Delivery.status, "deferred"))),
        (_l("Failed (last 7 days)"), board.failed_week,
         list_url("deliveries", (Delivery.status, "failed"), (Delivery.due_at, week))),
        (_l("Overdue tasks"), board.overdue_tasks, list_url("tasks", (Task.id, "yes"))),
        (_l("Held deliveries"), board.held, url_for("held_deliveries.index_view")),
    ]
    return cards


def sends_chart(now: datetime) -> Chart:
    days = sent_per_day(db.session, now, local_zone(), 14, visible_customer_ids())
    chart = Chart(str(_l("Messages and reminders handed to senders (last 14 days)")),
                  [d.strftime("%m-%d") for d, _ in days], label_every=1)
    return chart.add(_l("Handed over"), [n for _, n in days])


def added_per_day(days: int, now: datetime) -> list[tuple[str, int]]:
    """Customers (in the user's scope) added per local day, oldest first, zeros included:
    counted in the database (a month of a big import is hundreds of thousands of rows)."""
    zone = local_zone()
    first = now.astimezone(zone).date() - timedelta(days=days - 1)
    edges = day_edges(first, days, zone)
    if visible_customer_ids() is None and aligned(edges):
        counts = dict(enumerate(customers_per_bucket(db.session, edges)))
    else:
        day = bucket(Customer.added_at, edges).label("b")
        counts = dict(customers_in_scope(db.session.query(day, func.count(Customer.id)))
                      .filter(*in_range(Customer.added_at, edges)).group_by("b").all())
    return [((first + timedelta(days=i)).strftime("%m-%d"), counts.get(i, 0))
            for i in range(days)]


def customer_cards(now: datetime) -> dict:
    """Customers in the user's scope, and added this week: the counters when the
    user sees every customer."""
    week_ago = now - timedelta(days=7)
    if visible_customer_ids() is None:
        return {"customers": customers_since(db.session),
                "new_customers": customers_since(db.session, week_ago)}
    scoped = customers_in_scope(db.session.query(func.count(Customer.id)))
    return {"customers": scoped.scalar(),
            "new_customers": customers_in_scope(db.session.query(func.count(Customer.id)))
            .filter(Customer.added_at >= week_ago).scalar()}


def added_chart(added: list[tuple[str, int]]) -> Chart:
    chart = Chart(str(_l("Customers added per day (last 30 days)")), [d for d, _ in added])
    return chart.add(_l("Customers added"), [n for _, n in added])


def worker_status(now: datetime) -> int | None:
    """Seconds since a worker last ran the heartbeat; None when unknown or Redis is away."""
    from jobs.maintenance import last_heartbeat

    try:
        seen = last_heartbeat(current_app)
    except Exception:  # Redis down: the home page still renders, saying so
        return None
    return int((now - seen).total_seconds()) if seen else None


class HomeView(SecuredIndexView):
    @expose("/")
    def index(self):
        now = datetime.now(timezone.utc)
        role = current_user.role
        context = {"role": role, "worker_age": worker_status(now)}
        if role in CUSTOMER_ROLES:
            context.update(customer_cards(now), added=added_chart(added_per_day(30, now)))
        if role in OPS_ROLES:
            context.update(ops_cards=ops_cards(now), sends_chart=sends_chart(now))
        if role in CONFIG_ROLES:
            context["calendar_warning"] = calendar_warning(now.astimezone(local_zone()).date())
            context.update(
                sops=sop_counts(), running_url=list_url("sops", (Sop.status, "running")),
                journeys_enabled=db.session.scalar(
                    select(func.count()).select_from(Journey).where(Journey.enabled)))
        if role == "admin":
            context["zone"] = local_zone()
            context["recent"] = db.session.scalars(
                select(AuditLog).order_by(AuditLog.id.desc()).limit(8)).all()
        if role in ("admin", "finance"):
            month_ago = now - timedelta(days=30)
            count, amount = db.session.execute(
                select(func.count(Order.id), func.coalesce(func.sum(Order.amount), 0))
                .where(Order.placed_at >= month_ago)).one()
            context.update(orders_30d=count, amount_30d=amount)
        return self.render("admin/home.html", object_labels=OBJECT_LABELS,
                           audit_summary=audit_summary, **context)
