"""The journey data page (SPEC §4: customers per stage now and over time, stage-to-stage
moves, reminder completion by employee) and the quota calendar (SPEC §5: per day,
messages planned, sent, deferred by the quota, the enterprise budget used). Figures
from jobs/ops_stats.py; every chart is also a table and a capped CSV."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import abort
from flask_admin import expose
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from admin_views.base import SecuredView
from admin_views.charts import Chart, csv_response
from admin_views.choices import PERIOD_LABELS, local_zone
from admin_views.scopes import visible_customer_ids
from jobs.ops_stats import journey_stats, quota_calendar
from models import Journey, Settings, db


def stages_chart(stats) -> Chart:
    chart = Chart(str(_l("Customers per stage (end of each day, last 30 days)")),
                  [d.strftime("%m-%d") for d in stats.days], kind="stacked")
    for stage in stats.stages:
        chart.add(stage.name, stage.per_day)
    return chart


def calendar_chart(days) -> Chart:
    chart = Chart(str(_l("Messages per day: planned, sent, deferred by the quota")),
                  [d.day.strftime("%m-%d") for d in days])
    chart.add(_l("Planned"), [d.planned for d in days])
    chart.add(_l("Sent"), [d.sent for d in days])
    chart.add(_l("Deferred by quota"), [d.deferred for d in days])
    return chart.add(_l("Budget used"), [d.budget_used for d in days])


class JourneyDataView(SecuredView):
    roles = ("admin", "ops", "manager")

    def stats(self, journey_id: int):
        journey = db.session.get(Journey, journey_id)
        if journey is None:
            abort(404)
        now = datetime.now(timezone.utc)
        return journey, journey_stats(db.session, journey, now, local_zone(),
                                      visible_customer_ids())

    @expose("/")
    def index(self):
        journeys = db.session.scalars(select(Journey).order_by(Journey.key)).all()
        return self.render("admin/journey_data_index.html", journeys=journeys)

    @expose("/<int:journey_id>/")
    def journey_view(self, journey_id: int):
        journey, stats = self.stats(journey_id)
        return self.render("admin/journey_data.html", journey=journey, stats=stats,
                           chart=stages_chart(stats))

    @expose("/<int:journey_id>/csv")
    def csv_view(self, journey_id: int):
        journey, stats = self.stats(journey_id)
        chart = stages_chart(stats)
        return csv_response(f"{journey.key}-stages.csv", ["day", *(s.key for s in stats.stages)],
                            chart.rows)


class QuotaCalendarView(SecuredView):
    roles = ("admin", "ops")

    def days(self):
        settings = Settings.get(db.session)
        return quota_calendar(db.session, datetime.now(timezone.utc), local_zone(),
                              settings.daily_budget)

    @expose("/")
    def index(self):
        settings, days = Settings.get(db.session), self.days()
        db.session.commit()  # Settings.get may have created the row
        return self.render("admin/quota_calendar.html", days=days, chart=calendar_chart(days),
                           settings=settings,
                           period=PERIOD_LABELS.get(settings.quota_period, settings.quota_period),
                           today=datetime.now(timezone.utc)
                           .astimezone(local_zone()).date())

    @expose("/csv")
    def csv_view(self):
        return csv_response("quota-calendar.csv",
                            ["day", "planned", "sent", "deferred", "budget_used", "budget"],
                            ([d.day.isoformat(), d.planned, d.sent, d.deferred, d.budget_used,
                              "" if d.budget is None else d.budget] for d in self.days()))
