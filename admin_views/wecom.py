"""WeCom screens: the callback journal (read-only) and the auto-tag write-backs.

The journal lists every accepted callback once (refused ones are only logged:
they write nothing), so `transfer_fail` and ignored changes can be found here.
"""
from __future__ import annotations

from flask_admin.contrib.sqla.filters import FilterEqual
from flask_babel import lazy_gettext as _l

from admin_views.base import SecuredModelView
from admin_views.system import preformatted
from models import WeComCallback, WeComTagWrite

CHANGE_TYPES = ("add_external_contact", "edit_external_contact", "del_external_contact",
                "del_follow_user", "transfer_fail", "create", "update", "delete", "shuffle")


class WeComCallbackView(SecuredModelView):
    roles = ("admin", "ops")
    write_roles = ()
    simple_list_pager = True  # the journal only grows
    column_list = ("received_at", "change_type", "external_userid", "userid", "status",
                   "reason", "welcome", "synced_at", "repeats")
    column_details_list = column_list + ("event", "event_key", "created_at", "xml")
    column_labels = {
        "received_at": _l("Received"), "change_type": _l("Change"),
        "external_userid": _l("External user ID"), "userid": _l("Employee"),
        "status": _l("Status"), "reason": _l("Reason"), "welcome": _l("Welcome message"),
        "synced_at": _l("Details fetched"), "repeats": _l("Repeats"), "event": _l("Event"),
        "event_key": _l("Event key"), "created_at": _l("WeCom time"),
        "xml": _l("Decrypted message")}
    column_default_sort = ("id", True)
    column_sortable_list = ("received_at",)
    column_filters = (
        FilterEqual(WeComCallback.change_type, _l("Change"),
                    options=[(c, c) for c in CHANGE_TYPES]),
        FilterEqual(WeComCallback.status, _l("Status"),
                    options=[("accepted", _l("accepted")), ("ignored", _l("ignored"))]),
        FilterEqual(WeComCallback.external_userid, _l("External user ID")),
    )
    column_formatters_detail = {"xml": preformatted}


class WeComTagWriteView(SecuredModelView):
    roles = ("admin", "ops")
    write_roles = ()
    simple_list_pager = True
    column_list = ("created_at", "customer", "tag", "action", "status", "attempts",
                   "last_error", "next_try_at", "done_at")
    column_labels = {
        "created_at": _l("Created"), "customer": _l("Customer"), "tag": _l("Tag"),
        "action": _l("Action"), "status": _l("Status"), "attempts": _l("Attempts"),
        "last_error": _l("Last error"), "next_try_at": _l("Next try"), "done_at": _l("Done")}
    column_default_sort = ("id", True)
    column_filters = (FilterEqual(WeComTagWrite.status, _l("Status"), options=[
        ("pending", _l("pending")), ("done", _l("done")), ("failed", _l("failed"))]),)
