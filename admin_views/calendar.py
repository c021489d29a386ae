"""The work calendar (工作日历, settings.calendar): public holidays and make-up
workdays per date, for the working-day rules (the review deadline).

The list is filled from `chinesecalendar` on first open (jobs/workdays.py); admin
adds the next year's days once the State Council announces them. A day saved here
is `manual` and wins over the built-in calendar; config as code carries the
manual days (`settings.calendar`).
"""
from __future__ import annotations

from datetime import date, datetime, timezone

from flask import flash
from flask_admin import expose
from flask_admin.contrib.sqla.filters import DateBetweenFilter, FilterEqual
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import select
from wtforms import DateField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from admin_views.base import SecuredModelView
from admin_views.choices import local_zone
from jobs.core import vocab as V
from jobs.workdays import ensure_filled, missing_holiday_years
from models import CalendarDay, db

KIND_LABELS = {"holiday": _l("Holiday (day off)"), "workday": _l("Make-up workday (调休)")}
WEEKDAYS = (_l("Mon"), _l("Tue"), _l("Wed"), _l("Thu"), _l("Fri"), _l("Sat"), _l("Sun"))
SOURCE_LABELS = {"chinesecalendar": _l("Built-in (chinesecalendar)"), "manual": _l("Entered by hand")}


def calendar_warning(today: date) -> str | None:
    """The warning shown on the home page and the calendar when a year lacks holidays."""
    years = missing_holiday_years(db.session, today)
    if not years:
        return None
    return gettext("No public holidays entered for %(years)s: working-day deadlines count "
                   "Monday to Friday. Add the holidays and make-up workdays under "
                   "System › Work calendar.", years=", ".join(map(str, years)))


class CalendarDayView(SecuredModelView):
    roles = ("admin", "ops")
    write_roles = ("admin",)

    column_list = ("day", "weekday", "kind", "note", "source")
    column_labels = {"day": _l("Date"), "weekday": _l("Weekday"), "kind": _l("Kind"),
                     "note": _l("Note"), "source": _l("Source")}
    column_sortable_list = ("day", "kind", "source")
    column_default_sort = ("day", True)
    column_searchable_list = ("note",)
    column_filters = (
        FilterEqual(CalendarDay.kind, _l("Kind"), options=lambda: [
            (k, str(v)) for k, v in KIND_LABELS.items()]),
        FilterEqual(CalendarDay.source, _l("Source"), options=lambda: [
            (k, str(v)) for k, v in SOURCE_LABELS.items()]),
        DateBetweenFilter(CalendarDay.day, _l("Date")),
    )
    column_formatters = {
        "kind": lambda v, c, m, n: KIND_LABELS.get(m.kind, m.kind),
        "source": lambda v, c, m, n: SOURCE_LABELS.get(m.source, m.source),
        "weekday": lambda v, c, m, n: WEEKDAYS[m.day.weekday()],
    }
    form_columns = ("day", "kind", "note")
    form_overrides = {"day": DateField, "kind": SelectField, "note": StringField}
    form_args = {
        "day": {"label": _l("Date"), "validators": [DataRequired()]},
        "kind": {"label": _l("Kind"), "choices": [(k, v) for k, v in KIND_LABELS.items()],
                 "validators": [DataRequired()]},
        "note": {"label": _l("Note"), "validators": [Length(max=100)]},
    }

    @expose("/")
    def index_view(self):
        ensure_filled(db.session)  # first open: the official days the package knows
        db.session.commit()
        warning = calendar_warning(datetime.now(timezone.utc).astimezone(local_zone()).date())
        if warning:
            flash(warning, "warning")
        return super().index_view()

    def validate_form(self, form) -> bool:
        valid = super().validate_form(form)
        if not valid or not self.is_model_form(form):
            return valid
        if form.kind.data not in V.CALENDAR_KINDS:
            form.kind.errors.append(gettext("Choose holiday or make-up workday."))
            return False
        current = getattr(form, "_obj", None)
        other = db.session.scalar(select(CalendarDay).where(CalendarDay.day == form.day.data))
        if other is not None and other is not current:
            form.day.errors.append(gettext("%(day)s is already in the calendar.",
                                           day=form.day.data.isoformat()))
            return False
        return True

    def on_model_change(self, form, model, is_created) -> None:
        model.source = "manual"  # entered by hand: exported with settings.calendar
