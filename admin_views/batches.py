"""Send batches, read-only (SPEC §5, DESIGN step 4): the groups of deliveries handed to a
channel together, with their attempts, errors and WeCom msgids, to see why a send waits
or failed. Managers see the batches sent by their department's staff."""
from __future__ import annotations

from flask import url_for
from flask_admin.contrib.sqla.filters import FilterEqual, IntEqualFilter
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from admin_views.base import SecuredModelView
from admin_views.choices import CHANNEL_LABELS
from admin_views.customers import one_line
from admin_views.deliveries import DELIVERY_LABELS
from admin_views.forms import LazyOptions
from admin_views.scopes import sent_by_visible_staff
from admin_views.system import pretty_json, sop_options
from jobs.core.vocab import DELIVERY_STATUSES
from models import Delivery, SendBatch, db

BATCH_LABELS = {"planned": _l("Planned"), "sending": _l("Sending"),
                "queued": _l("Handed to the channel"), "done": _l("Done"),
                "failed": _l("Failed")}


def origin(view, context, model, name) -> str:
    """The SOP the batch sends for, or the journey of a stage reminder."""
    if model.sop is not None:
        return str(model.sop)
    if model.journey is not None:
        return str(model.journey)
    return ""


def step(view, context, model, name) -> str:
    """The SOP step or journey reminder as people count it (1-based)."""
    source = model.step if model.step_id is not None else model.reminder
    if source is None:
        return "—"  # deleted since
    number = str(source.position + 1)
    key = getattr(source, "key", None)
    return f"{number} · {key}" if key else number


def delivery_counts(view, context, model, name):
    """How many of the batch's deliveries are in each status."""
    counts = dict(db.session.execute(
        select(Delivery.status, func.count()).where(Delivery.batch_id == model.id)
        .group_by(Delivery.status)).all())
    if not counts:
        return ""
    items = [Markup('<li class="delivery-count" data-status="{}">{}: {}</li>').format(
        status, DELIVERY_LABELS.get(status, status), counts[status])
        for status in DELIVERY_STATUSES if counts.get(status)]
    return Markup('<ul class="list-unstyled mb-0">{}</ul>').format(Markup("").join(items))


def task_link(view, context, model, name):
    if model.task is None:
        return ""
    return Markup('<a href="{}">{}</a>').format(
        url_for("tasks.details_view", id=model.task.id), str(model.task))


def channel_reference(view, context, model, name):
    """The channel's reference; the inbox channel's "task 42" reads as the task it made."""
    ref = model.msgid or ""
    if model.channel == "task" and ref.startswith("task ") and ref[5:].isdigit():
        return str(_l("Task #%(id)s", id=ref[5:]))
    return one_line(view, context, model, name)


class SendBatchView(SecuredModelView):
    roles = ("admin", "ops", "manager")
    write_roles = ()

    simple_list_pager = True  # one row per batch ever planned: no COUNT(*) over it
    column_auto_select_related = False
    column_list = ("id", "origin", "step", "sender", "channel", "seq", "not_before", "status",
                   "size", "attempts", "error", "msgid", "queued_at", "finished_at")
    column_details_list = ("id", "origin", "step", "sender", "channel", "seq", "due_at",
                           "not_before", "status", "size", "deliveries", "attempts",
                           "attempt_open", "attempt_at", "retry_after", "error", "msgid",
                           "fail_list", "task", "created_at", "queued_at", "finished_at",
                           "reconciled_at")
    column_labels = {
        "id": _l("ID"), "origin": _l("SOP or journey"), "step": _l("Step"),
        "sender": _l("Sender"), "channel": _l("Channel"), "seq": _l("Sequence"),
        "due_at": _l("Due to send"), "not_before": _l("Not before"), "status": _l("Status"),
        "size": _l("Recipients"), "deliveries": _l("Deliveries by status"),
        "attempts": _l("Attempts"), "attempt_open": _l("Attempt unanswered"),
        "attempt_at": _l("Last attempt"), "retry_after": _l("Retry after"),
        "error": _l("Error"), "msgid": _l("Channel reference"),
        "fail_list": _l("Not reached"), "task": _l("Task"), "created_at": _l("Planned at"),
        "queued_at": _l("Handed over"), "finished_at": _l("Finished"),
        "reconciled_at": _l("Results fetched"),
    }
    column_formatters = {
        "origin": origin, "step": step, "error": one_line, "msgid": channel_reference,
        "status": lambda v, c, m, n: BATCH_LABELS.get(m.status, m.status),
        "channel": lambda v, c, m, n: CHANNEL_LABELS.get(m.channel, m.channel),
    }
    column_formatters_detail = column_formatters | {
        "error": lambda v, c, m, n: m.error or "", "msgid": channel_reference,
        "deliveries": delivery_counts, "fail_list": pretty_json, "task": task_link,
    }
    column_sortable_list = ("id", "not_before", "status", "queued_at", "finished_at")
    column_default_sort = ("id", True)
    column_filters = (
        FilterEqual(SendBatch.status, _l("Status"), options=list(BATCH_LABELS.items())),
        FilterEqual(SendBatch.channel, _l("Channel"), options=list(CHANNEL_LABELS.items())),
        IntEqualFilter(SendBatch.sop_id, _l("SOP"), options=LazyOptions(sop_options)),
    )

    def scope(self, query):
        return sent_by_visible_staff(query, SendBatch.sender_id)

    def get_query(self):
        return super().get_query().options(
            joinedload(SendBatch.sop), joinedload(SendBatch.journey),
            joinedload(SendBatch.step), joinedload(SendBatch.reminder),
            joinedload(SendBatch.sender))
