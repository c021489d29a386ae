"""An SOP's data page (数据, SPEC §3 效果分析; seed 003 §4.1.4-4.1.5): totals, the step
funnel, sends per day, the N-day conversion with the holdout's lift, and the latest
customers with the manual-end action, and the A/B variants of its message steps.
Figures come from jobs/analytics.py and jobs/variant_stats.py; every
chart is also a table and a capped CSV. Managers see their department's customers.
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import abort, request, url_for
from flask_admin import expose
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from admin_views.base import SecuredView
from admin_views.charts import EXPORT_CAP, Chart, csv_response
from admin_views.choices import CONFIG_ROLES, STATUS_LABELS, local_zone, step_caption
from admin_views.deliveries import DELIVERY_LABELS
from admin_views.enrollments import ENROLLMENT_LABELS
from admin_views.forms import CsrfForm
from admin_views.scopes import visible_customer_ids
from jobs import analytics
from jobs.core.vocab import DELIVERY_STATUSES, ENROLLMENT_STATUSES
from jobs.variant_stats import variant_stats
from models import Enrollment, Sop, db

DATA_ROLES = ("admin", "ops", "manager")
FUNNEL_CHART = ("queued", "sent", "pending", "deferred", "failed", "skipped", "expired")
CSV_TABLES = ("funnel", "sends", "weeks", "customers")


def funnel_chart(rows, captions: dict) -> Chart:
    chart = Chart(str(_l("Deliveries per step, by status")),
                  [captions.get(r.position, r.label) for r in rows], kind="stacked",
                  label_every=1)
    for status in FUNNEL_CHART:
        chart.add(DELIVERY_LABELS[status], [r.counts[status] for r in rows])
    return chart


def sends_chart(days) -> Chart:
    chart = Chart(str(_l("Messages per day (last 30 days)")),
                  [d.day.strftime("%m-%d") for d in days])
    chart.add(_l("Handed to the sender"), [d.handed for d in days])
    return chart.add(_l("Confirmed sent"), [d.confirmed for d in days])


def weeks_chart(conversion) -> Chart:
    chart = Chart(str(_l("Conversion per entry week (%)")),
                  [w.week.strftime("%m-%d") for w in conversion.weeks], kind="lines")
    percent = lambda r: round(r.value * 100, 1) if r.value is not None else 0  # noqa: E731
    chart.add(_l("Messaged"), [percent(w.messaged) for w in conversion.weeks])
    if conversion.holdout_percent or conversion.overall.holdout.entrants:
        chart.add(_l("Holdout"), [percent(w.holdout) for w in conversion.weeks])
    return chart


def week_rows(conversion) -> list[list]:
    def pct(r):
        return "" if r.value is None else f"{r.value * 100:.1f}"
    return [[w.week.isoformat(), w.everyone.entrants, w.everyone.converted, pct(w.everyone),
             w.messaged.entrants, w.messaged.converted, pct(w.messaged), w.holdout.entrants,
             w.holdout.converted, pct(w.holdout), w.window_open] for w in conversion.weeks]


WEEK_HEADER = ("Week", "Entrants", "Converted", "Rate %", "Messaged", "Messaged converted",
               "Messaged rate %", "Holdout", "Holdout converted", "Holdout rate %",
               "Window still open")


class SopDataView(SecuredView):
    roles = DATA_ROLES

    def sop(self, sop_id: int) -> Sop:
        sop = db.session.get(Sop, sop_id)
        if sop is None:
            abort(404)
        return sop

    @expose("/")
    def index(self):
        """Every SOP with its entrants, linking to its data page."""
        visible = visible_customer_ids()
        query = select(Enrollment.sop_id, func.count()).group_by(Enrollment.sop_id)
        if visible is not None:
            query = query.where(Enrollment.customer_id.in_(visible))
        entered = dict(db.session.execute(query).all())
        sops = db.session.scalars(select(Sop).order_by(Sop.priority.desc(), Sop.key)).all()
        return self.render("admin/sop_data_index.html", sops=sops, entered=entered,
                           status_labels=STATUS_LABELS)

    @expose("/<int:sop_id>/")
    def sop_view(self, sop_id: int):
        sop, now, tz = self.sop(sop_id), datetime.now(timezone.utc), local_zone()
        visible = visible_customer_ids()
        stats = analytics.sop_stats(db.session, sop, now, tz, visible)
        status = request.args.get("status")
        status = status if status in ENROLLMENT_STATUSES else None
        customers = analytics.customers(db.session, sop, status, visible=visible)
        captions = {s.position: step_caption(s) for s in sop.steps}
        variants = variant_stats(db.session, sop, visible)
        return self.render(
            "admin/sop_data.html", sop=sop, stats=stats, zone=tz, now=now,
            funnel_chart=funnel_chart(stats.funnel, captions), sends_chart=sends_chart(stats.sends),
            weeks_chart=weeks_chart(stats.conversion), customers=customers, status=status,
            variants=variants,
            statuses=DELIVERY_STATUSES, delivery_labels=DELIVERY_LABELS,
            enrollment_labels=ENROLLMENT_LABELS, form=CsrfForm(),
            can_end=self.may_end(), captions=captions)

    def may_end(self) -> bool:
        from flask_login import current_user

        return current_user.role in CONFIG_ROLES

    @expose("/<int:sop_id>/csv/<table>")
    def csv_view(self, sop_id: int, table: str):
        if table not in CSV_TABLES:
            abort(404)
        sop, now, tz = self.sop(sop_id), datetime.now(timezone.utc), local_zone()
        visible = visible_customer_ids()
        name = f"{sop.key}-{table}.csv"
        if table == "funnel":
            rows = analytics.funnel(db.session, sop, visible)
            return csv_response(name, ["step", "label", "due", *DELIVERY_STATUSES, "holdout"],
                                ([r.position + 1, r.label, r.due,
                                  *(r.counts[s] for s in DELIVERY_STATUSES), r.holdout]
                                 for r in rows))
        if table == "sends":
            days = analytics.sends_per_day(db.session, sop, now, tz, visible=visible)
            return csv_response(name, ["day", "handed", "confirmed"],
                                ([d.day.isoformat(), d.handed, d.confirmed] for d in days))
        if table == "weeks":
            conversion = analytics.conversion(db.session, sop, now, tz, visible)
            return csv_response(name, list(WEEK_HEADER), week_rows(conversion))
        rows = analytics.customers(db.session, sop, request.args.get("status") or None,
                                   limit=EXPORT_CAP, visible=visible)
        return csv_response(name, ["external_id", "name", "status", "holdout", "enrolled_at",
                                   "last_step"],
                            ([r.external_id, r.name, r.status, int(r.holdout),
                              r.enrolled_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                              "" if r.last_step is None else r.last_step + 1] for r in rows))

    def csv_url(self, sop: Sop, table: str) -> str:
        return url_for(".csv_view", sop_id=sop.id, table=table)
