"""Buttons that move an SOP or a journey through its states (SPEC §3, §4).

Start / pause / resume / end an SOP and "sync data" of a journey: a POST with a
CSRF token from the details or edit page, for the roles that may write. The
services in jobs/lifecycle.py decide what is allowed; a refused move changes
nothing and its reason is flashed. After a start, a resume or a sync a tick is
queued so the work begins within seconds; without Redis the periodic tick does it.
"""
from __future__ import annotations

from typing import NamedTuple

from flask import (
    abort, current_app, flash, get_template_attribute, jsonify, redirect, request,
)
from flask_admin import expose
from flask_admin.helpers import get_redirect_target
from flask_babel import gettext, lazy_gettext as _l
from markupsafe import Markup
from redis.exceptions import RedisError

from admin_views.choices import STATUS_LABELS, local_minutes
from jobs import engine_jobs, lifecycle
from models import db
from models.base import utcnow


class Move(NamedTuple):
    name: str  # the value the button posts
    label: str
    confirm: str  # asked before the form is sent
    style: str  # bootstrap button colour


SOP_MOVES = {
    "start": Move("start", _l("Start"),
                  _l("Start this SOP? Its first evaluation enrolls every matching customer."),
                  "success"),
    "pause": Move("pause", _l("Pause"),
                  _l("Pause this SOP? Nothing is sent until it is resumed."), "warning"),
    "resume": Move("resume", _l("Resume"), _l("Resume this SOP?"), "success"),
    "end": Move("end", _l("End"),
                _l("End this SOP? Every customer still in it ends and pending sends are "
                   "cancelled. This cannot be undone."), "danger"),
}
# Which buttons each status shows; the service refuses anything else anyway.
MOVES_BY_STATUS = {
    "draft": ("start",),
    "initializing": ("pause", "end"),
    "running": ("pause", "end"),
    "paused": ("resume", "end"),
    "ended": (),
}
DONE_MESSAGES = {
    "start": _l("The SOP has started; its first evaluation runs in the background."),
    "pause": _l("The SOP is paused."),
    "resume": _l("The SOP has resumed."),
    "end": _l("The SOP has ended."),
}
SERVICES = {"start": lifecycle.start, "pause": lifecycle.pause, "resume": lifecycle.resume,
            "end": lifecycle.end_sop}


def run_tick_soon() -> None:
    """Queue a tick; if Redis is away the request still succeeds and says so."""
    try:
        engine_jobs.enqueue_tick(current_app._get_current_object())
    except (RedisError, OSError) as exc:
        current_app.logger.warning("could not queue a tick: %s", exc)
        flash(_l("The job queue is not reachable; the next periodic tick will do the work."),
              "warning")


def refused(reason: str | lifecycle.LifecycleError) -> None:
    """Roll back and say why, in the user's language."""
    if isinstance(reason, lifecycle.LifecycleError):
        reason = reason.localized(gettext)
    db.session.rollback()
    flash(_l("Nothing was changed: %(reason)s", reason=reason), "error")


def posted_id() -> str:
    value = request.form.get("id", "")
    if not value.isdigit():
        abort(400)
    return value


def progress_bar(view, model, percent: int):
    """The bar of admin/progress.html for a list cell; the list reloads when done."""
    bar = get_template_attribute("admin/progress.html", "bar")
    return bar(percent, view.get_url(".progress_view", id=model.id), reload=True)


def sop_status(view, context, model, name):
    """The status label, with the progress of the first evaluation while it runs."""
    label = STATUS_LABELS.get(model.status, model.status)
    if model.status != "initializing":
        return label
    return Markup("{} {}").format(label, progress_bar(view, model, model.init_progress))


class PanelHelpers:
    """What the lifecycle panels of admin/lifecycle.html call on the view."""

    @staticmethod
    def local_time(value) -> str:
        return local_minutes(None, value)

    @staticmethod
    def status_label(sop) -> str:
        return STATUS_LABELS.get(sop.status, sop.status)


class SopLifecycleMixin(PanelHelpers):
    """For SopView: the lifecycle buttons and the progress of the first evaluation."""

    def lifecycle_moves(self, sop) -> list[Move]:
        """The buttons shown for this SOP to the current user."""
        if not self.can_edit:
            return []
        return [SOP_MOVES[name] for name in MOVES_BY_STATUS.get(sop.status, ())]

    @expose("/lifecycle/", methods=("POST",))
    def lifecycle_view(self):
        if not self.can_edit:
            abort(403)
        sop = self.get_one(posted_id())
        move = request.form.get("move", "")
        if move not in SERVICES:
            abort(400)
        back = get_redirect_target() or self.get_url(".details_view", id=sop.id)
        try:
            SERVICES[move](db.session, sop, utcnow())
        except lifecycle.LifecycleError as exc:
            refused(exc)
            return redirect(back)
        db.session.commit()
        flash(DONE_MESSAGES[move], "success")
        if move in ("start", "resume"):
            run_tick_soon()
        return redirect(back)

    @expose("/progress/")
    def progress_view(self):
        """The first evaluation's progress, polled by the pages while it runs."""
        sop = self.get_one(request.args.get("id", ""))
        return jsonify(status=sop.status, label=str(STATUS_LABELS.get(sop.status, sop.status)),
                       progress=sop.init_progress, done=sop.status != "initializing")


class JourneySyncMixin(PanelHelpers):
    """For JourneyView: the "sync data" button and the progress of a running sync."""

    sync_move = Move("sync", _l("Sync data"),
                     _l("Sync this journey? Every customer is placed in the stage that "
                        "matches now; the journey cannot be edited until it has finished."),
                     "primary")

    @expose("/sync/", methods=("POST",))
    def sync_view(self):
        if not self.can_edit:
            abort(403)
        journey = self.get_one(posted_id())
        back = get_redirect_target() or self.get_url(".details_view", id=journey.id)
        try:
            lifecycle.start_sync(db.session, journey, utcnow())
        except lifecycle.LifecycleError as exc:
            refused(exc)
            return redirect(back)
        db.session.commit()
        flash(_l("Sync started: every customer is placed in the background; the journey "
                 "cannot be edited until it has finished."), "success")
        run_tick_soon()
        return redirect(back)

    @expose("/progress/")
    def progress_view(self):
        journey = self.get_one(request.args.get("id", ""))
        return jsonify(progress=journey.sync_progress if journey.sync_started_at else 100,
                       done=journey.sync_started_at is None)
