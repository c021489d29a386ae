"""The admin home: what a signed-in user should see first, by role."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import current_app
from flask_admin import expose
from flask_login import current_user
from sqlalchemy import func, select

from admin_views.base import SecuredIndexView
from admin_views.choices import CONFIG_ROLES, CUSTOMER_ROLES, local_zone
from admin_views.customers import customers_in_scope
from models import AuditLog, Customer, Journey, Order, Sop, db


def sop_counts() -> dict[str, int]:
    rows = db.session.execute(select(Sop.status, func.count()).group_by(Sop.status))
    return dict(rows.all())


def added_per_day(days: int, now: datetime) -> list[tuple[str, int]]:
    """Customers (in the user's scope) added per local day, oldest first, zeros included."""
    zone = local_zone()
    today = now.astimezone(zone).date()
    start = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), zone)
    query = customers_in_scope(db.session.query(Customer.added_at)).filter(
        Customer.added_at >= start.astimezone(timezone.utc))
    counts: dict = {}
    for (added,) in query:
        day = added.astimezone(zone).date()
        counts[day] = counts.get(day, 0) + 1
    days_shown = [today - timedelta(days=i) for i in range(days - 1, -1, -1)]
    return [(day.strftime("%m-%d"), counts.get(day, 0)) for day in days_shown]


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
            scoped = customers_in_scope(db.session.query(func.count(Customer.id)))
            week_ago = now - timedelta(days=7)
            context.update(
                customers=scoped.scalar(),
                new_customers=customers_in_scope(db.session.query(func.count(Customer.id)))
                .filter(Customer.added_at >= week_ago).scalar(),
                added=added_per_day(30, now))
        if role in CONFIG_ROLES:
            context.update(
                sops=sop_counts(),
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
        return self.render("admin/home.html", **context)
