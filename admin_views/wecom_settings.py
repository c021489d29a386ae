"""The settings screen's "test WeCom connection" button."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, url_for
from flask_admin import expose
from flask_babel import gettext


class ConnectionTestMixin:
    """For SettingsView: the "test connection" button (gettoken with the saved settings).
    It writes nothing to the database (the token is cached in Redis)."""

    edit_template = "admin/settings_edit.html"

    @expose("/test-connection/", methods=("POST",))
    def test_connection_view(self):
        if not self.can_edit:
            abort(403)
        from jobs.wecom_api import WeComApi

        try:
            WeComApi.from_app(current_app._get_current_object(), timeout=5).gettoken()
        except Exception as exc:  # NotSent (not configured), TokenUnavailable (errcode)
            flash(gettext("WeCom connection failed: %(reason)s", reason=str(exc)), "error")
        else:
            flash(gettext("WeCom connection OK: gettoken returned an access token."), "success")
        return redirect(url_for(".index_view"))
