"""The ledger of sends, read-only: every step and reminder due for a customer, its
sender, when it is due and what became of it (SPEC §5)."""
from __future__ import annotations

from flask_admin.contrib.sqla.filters import FilterEqual, IntEqualFilter
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from admin_views.base import SecuredModelView
from admin_views.choices import ACTION_LABELS
from admin_views.customers import LocalDaysFilter, employee_options
from admin_views.enrollments import customer_cell
from admin_views.forms import LazyOptions
from admin_views.scopes import about_visible_customers
from admin_views.system import sop_options
from models import Delivery, GroupSend, Journey, db

DELIVERY_LABELS = {
    "pending": _l("Pending"), "deferred": _l("Deferred"), "queued": _l("Handed to the sender"),
    "sent": _l("Sent"), "failed": _l("Failed"), "skipped": _l("Skipped"),
    "expired": _l("Expired"), "cancelled": _l("Cancelled"),
}
DELIVERY_ACTION_LABELS = ACTION_LABELS | {"reminder": _l("Reminder")}


def journey_options():
    return [(str(j.id), str(j)) for j in db.session.scalars(select(Journey).order_by(Journey.key))]


def origin(view, context, model, name) -> str:
    """The SOP the delivery comes from, the journey and stage of a reminder, or the
    group send."""
    if model.group_send is not None:
        return f"{gettext('Group send')} · {model.group_send}"
    if model.sop is not None:
        return str(model.sop)
    if model.journey is not None:
        return f"{model.journey} / {model.stage_key or ''}"
    return ""


def group_send_options():
    return [(str(g.id), str(g)) for g in db.session.scalars(
        select(GroupSend).order_by(GroupSend.at.desc()).limit(200))]


def step(view, context, model, name) -> str:
    """The step as people count it (1-based), with its stable key when it has one."""
    number = str(model.position + 1)
    return f"{number} · {model.step_key}" if model.step_key else number


class DeliveryView(SecuredModelView):
    roles = ("admin", "ops", "manager")
    write_roles = ()

    simple_list_pager = True  # the ledger only grows: no COUNT(*) over it
    column_auto_select_related = False
    column_list = ("id", "customer", "origin", "step", "action", "sender", "due_at", "status",
                   "reason", "queued_at", "sent_at")
    column_details_list = ("id", "customer", "origin", "step", "action", "sender", "due_at",
                           "status", "reason", "text", "task", "created_at", "queued_at",
                           "sent_at")
    column_labels = {
        "id": _l("ID"), "customer": _l("Customer"), "origin": _l("SOP, journey / stage or group send"),
        "step": _l("Step"), "action": _l("Action"), "sender": _l("Sender"),
        "due_at": _l("Due to send"), "status": _l("Status"), "reason": _l("Reason"),
        "queued_at": _l("Handed over"), "sent_at": _l("Sent at"), "text": _l("Text handed over"),
        "task": _l("Task"), "created_at": _l("Written"),
    }
    column_formatters = {
        "customer": customer_cell, "origin": origin, "step": step,
        "action": lambda v, c, m, n: DELIVERY_ACTION_LABELS.get(m.action, m.action),
        "status": lambda v, c, m, n: DELIVERY_LABELS.get(m.status, m.status),
    }
    column_formatters_detail = column_formatters
    column_sortable_list = ("id", "due_at", "status", "queued_at")  # indexed
    column_default_sort = ("due_at", True)
    # the SOP page links here with flt0_0=<sop id>: keep the SOP filter first
    column_filters = (
        IntEqualFilter(Delivery.sop_id, _l("SOP"), options=LazyOptions(sop_options)),
        IntEqualFilter(Delivery.journey_id, _l("Journey"), options=LazyOptions(journey_options)),
        FilterEqual(Delivery.status, _l("Status"), options=list(DELIVERY_LABELS.items())),
        LocalDaysFilter(Delivery.due_at, _l("Due to send")),
        IntEqualFilter(Delivery.sender_id, _l("Sender"), options=LazyOptions(employee_options)),
        FilterEqual(Delivery.action, _l("Action"),
                    options=list(DELIVERY_ACTION_LABELS.items())),
        LocalDaysFilter(Delivery.queued_at, _l("Handed over")),  # the dashboard's "sent today"
        IntEqualFilter(Delivery.group_send_id, _l("Group send"),  # its data page links here
                       options=LazyOptions(group_send_options)),
    )

    def scope(self, query):
        return about_visible_customers(query, Delivery.customer_id)

    def get_query(self):
        return super().get_query().options(
            joinedload(Delivery.customer), joinedload(Delivery.sop),
            joinedload(Delivery.journey), joinedload(Delivery.sender),
            joinedload(Delivery.group_send))


HELD_STATUSES = ("pending", "deferred")  # a held delivery waits: it is never sent as it is


class HeldDeliveryView(DeliveryView):
    """Deliveries held because their customer has no active owner (SPEC §5: held and
    listed, never sent from a departed account). They leave this list when the customer
    gets an active owner again, or when they end (cancelled, expired)."""

    column_list = ("id", "customer", "origin", "step", "action", "sender", "due_at",
                   "held_since", "status", "reason")
    column_details_list = ("id", "customer", "origin", "step", "action", "sender", "due_at",
                           "held_since", "status", "reason", "created_at")
    column_labels = DeliveryView.column_labels | {"held_since": _l("Held since")}
    column_sortable_list = ("id", "due_at", "held_since")
    column_default_sort = ("held_since", False)
    column_filters = (
        IntEqualFilter(Delivery.sop_id, _l("SOP"), options=LazyOptions(sop_options)),
        IntEqualFilter(Delivery.journey_id, _l("Journey"), options=LazyOptions(journey_options)),
        FilterEqual(Delivery.status, _l("Status"),
                    options=[(s, DELIVERY_LABELS[s]) for s in HELD_STATUSES]),
        LocalDaysFilter(Delivery.held_since, _l("Held since")),
    )

    def scope(self, query):
        held = query.filter(Delivery.held_since.is_not(None),
                            Delivery.status.in_(HELD_STATUSES))
        return super().scope(held)
