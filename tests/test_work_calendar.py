"""The work calendar (settings.calendar, SPEC §10): entered holidays and make-up workdays
win over the built-in calendar; it fills from chinesecalendar once; config as code
round-trips it; the review deadline counts by it; the admin screen edits it."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from admin_views.calendar import calendar_warning
from config_io.importer import export_document
from jobs.core.workdays import add_working_days, work_calendar, years_without_holidays
from jobs.workdays import calendar_for, fill_from_package, missing_holiday_years
from models import CalendarDay, Task, db
from tests.config_io_support import import_ok, import_problems
from tests.conftest import post_form
from tests.engine_support import added, doc, events, load, local, run_tick
from tests.test_admin_support import field_errors, signed_in

# A made-up 2027 Spring Festival: Mon 02-08 .. Fri 02-12 off, Sunday 02-07 worked.
CALENDAR_2027 = {"holidays": ["2027-02-08", "2027-02-09", "2027-02-10", "2027-02-11",
                              "2027-02-12"], "workdays": ["2027-02-07"]}
MANAGER = {"userid": "zhao", "name": "赵经理", "department": "华东销售", "role": "manager"}


def rows(**where) -> int:
    query = select(func.count()).select_from(CalendarDay)
    for name, value in where.items():
        query = query.where(getattr(CalendarDay, name) == value)
    return db.session.scalar(query)


# --- pure ------------------------------------------------------------------------------
def test_listed_days_win_then_the_package_then_monday_to_friday():
    package = {date(2025, 10, 1): False}  # the package knows this one day only
    is_workday = work_calendar({date(2035, 1, 8): "holiday", date(2035, 1, 6): "workday"},
                               package.get)
    assert is_workday(date(2035, 1, 8)) is False  # a Monday entered as a holiday
    assert is_workday(date(2035, 1, 6)) is True  # a Saturday entered as a make-up day
    assert is_workday(date(2025, 10, 1)) is False  # the package's holiday
    assert (is_workday(date(2035, 1, 9)), is_workday(date(2035, 1, 13))) == (True, False)


def test_years_without_holidays():
    assert years_without_holidays([2026, 2027], [date(2026, 10, 1)]) == [2027]


# --- the table --------------------------------------------------------------------------
def test_filling_from_the_package_is_idempotent_and_keeps_entered_days():
    db.session.add(CalendarDay(day=date(2025, 10, 1), kind="workday", source="manual"))
    added_rows = fill_from_package(db.session)
    assert added_rows > 500 and fill_from_package(db.session) == 0
    national_day = db.session.scalar(select(CalendarDay).where(
        CalendarDay.day == date(2025, 10, 1)))
    assert (national_day.kind, national_day.source) == ("workday", "manual")
    assert rows(day=date(2025, 9, 28), kind="workday") == 1  # a make-up Sunday
    assert calendar_for(db.session)(date(2025, 10, 1)) is True  # the entered day wins


def test_missing_holiday_years_and_the_warning():
    fill_from_package(db.session)
    assert missing_holiday_years(db.session, date(2026, 12, 5)) == [2027]
    assert "2027" in calendar_warning(date(2026, 12, 5))
    import_ok({"settings": {"calendar": CALENDAR_2027}})
    assert missing_holiday_years(db.session, date(2026, 12, 5)) == []
    assert calendar_warning(date(2026, 12, 5)) is None


# --- the review deadline ----------------------------------------------------------------
def review_deadline_for(added_at):
    events(added("x", owner="zhangsan", at=added_at.isoformat()), now=added_at)
    run_tick(added_at + timedelta(minutes=1))
    [review] = db.session.scalars(select(Task).where(Task.rule == "review")).all()
    return review.deadline_at


def staff_with_calendar(calendar: dict | None):
    document = doc(settings={"calendar": calendar} if calendar else None)
    document["employees"].append(MANAGER)
    load(document, local(2026, 12, 1))


def test_review_deadline_skips_an_entered_2027_holiday():
    staff_with_calendar(CALENDAR_2027)
    # Sunday 02-07 is a make-up workday: its next working day is Monday 02-15
    assert review_deadline_for(local(2027, 2, 7, 15)) == local(2027, 2, 15, 15)


def test_review_deadline_on_the_friday_before_uses_the_make_up_sunday():
    staff_with_calendar(CALENDAR_2027)
    assert review_deadline_for(local(2027, 2, 5, 15)) == local(2027, 2, 7, 15)


def test_without_the_entered_days_2027_counts_monday_to_friday():
    staff_with_calendar(None)
    assert review_deadline_for(local(2027, 2, 5, 15)) == local(2027, 2, 8, 15)
    assert add_working_days(local(2027, 2, 7, 15), 1, calendar_for(db.session)) \
        == local(2027, 2, 9, 0)  # a Sunday: counting starts Monday, due at its end


# --- config as code ---------------------------------------------------------------------
def test_calendar_round_trips_and_replaces_the_entered_days():
    import_ok({"settings": {"calendar": CALENDAR_2027}})
    assert export_document(db.session)["settings"]["calendar"] == CALENDAR_2027
    import_ok(export_document(db.session))
    assert export_document(db.session)["settings"]["calendar"] == CALENDAR_2027
    # the document is the whole list: a day no longer listed goes, a built-in day stays
    import_ok({"settings": {"calendar": {"holidays": ["2027-02-08"],
                                         "workdays": ["2025-10-01"]}}})
    assert export_document(db.session)["settings"]["calendar"] == {
        "holidays": ["2027-02-08"], "workdays": ["2025-10-01"]}
    assert rows(day=date(2027, 2, 9)) == 0
    import_ok({"settings": {"calendar": {}}})
    assert "calendar" not in export_document(db.session)["settings"]
    assert db.session.scalar(select(CalendarDay.kind).where(
        CalendarDay.day == date(2025, 10, 1))) == "holiday"  # the package's day is back


def test_bad_calendar_is_refused_with_paths():
    problems = import_problems({"settings": {"calendar": {
        "holidays": ["2027-02-30", "2027-02-08"], "workdays": ["2027-02-08"], "other": []}}})
    assert problems == [
        "settings.calendar.other: unknown field (allowed: holidays, workdays)",
        "settings.calendar.holidays[0]: not a date (YYYY-MM-DD): '2027-02-30'",
        "settings.calendar.workdays[0]: 2027-02-08 is already listed in holidays",
    ]
    assert rows() == 0


def test_unquoted_yaml_dates_are_read():
    import_ok({"settings": {"calendar": {"holidays": [date(2027, 1, 1)]}}})
    assert export_document(db.session)["settings"]["calendar"] == {"holidays": ["2027-01-01"]}


# --- the admin screen --------------------------------------------------------------------
def test_admin_enters_a_holiday_and_a_duplicate_is_refused(app, admin_user):
    client = signed_in(app, "admin")
    listing = client.get("/admin/work_calendar/")
    assert listing.status_code == 200
    assert rows(source="chinesecalendar") > 500  # filled on first open
    assert "2027" in listing.get_data(as_text=True)  # the missing-year warning
    resp = post_form(client, "/admin/work_calendar/new/",
                     {"day": "2027-02-08", "kind": "holiday", "note": "春节"})
    assert resp.status_code == 302
    assert rows(day=date(2027, 2, 8), kind="holiday", source="manual") == 1
    resp = post_form(client, "/admin/work_calendar/new/",
                     {"day": "2027-02-08", "kind": "workday", "note": ""})
    assert resp.status_code == 200
    assert field_errors(resp.get_data(as_text=True), "day")
    resp = post_form(client, "/admin/work_calendar/new/",
                     {"day": "2027-02-09", "kind": "weekend", "note": ""})
    assert resp.status_code == 200 and rows(day=date(2027, 2, 9)) == 0
    assert export_document(db.session)["settings"]["calendar"] == {"holidays": ["2027-02-08"]}


def test_ops_reads_the_calendar_but_cannot_write(app):
    from tests.conftest import make_user

    make_user("ops", "ops")
    client = signed_in(app, "ops")
    assert client.get("/admin/work_calendar/").status_code == 200
    assert client.get("/admin/work_calendar/new/").status_code in (302, 403)


def test_cli_fills_once(app):
    from tests.config_io_support import cli

    first, second = cli(app, "calendar-fill"), cli(app, "calendar-fill")
    assert first.exit_code == 0 and '"added": 0' not in first.output
    assert second.output.strip() == '{"added": 0}'
