"""System screens: the settings row, the audit log and the SOP versions (read-only)."""
from __future__ import annotations

import json

import yaml
from flask import redirect, url_for
from flask_admin import expose
from flask_admin.contrib.sqla.filters import FilterEqual, FilterLike, IntEqualFilter
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import select
from admin_views.base import SecuredModelView
from admin_views.choices import (
    AUDIT_ACTION_LABELS, CHANNEL_LABELS, OBJECT_LABELS, PERIOD_LABELS, audit_summary, labelled,
)
from admin_views.wecom_settings import ConnectionTestMixin
from admin_views.forms import (
    FreeNamesField, LazyOptions, NameChoiceField, WriteOnlyField, compact, item_validator,
)
from jobs.core import vocab as V
from jobs.core.config_rules import check_settings
from models import AuditLog, Settings, Sop, SopVersion, db

SECRETS = ("wecom_secret", "wecom_callback_token", "wecom_aes_key")


def pretty_json(view, context, model, name):
    value = getattr(model, name)
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)
    return Markup("<pre>{}</pre>").format(text)


def preformatted(view, context, model, name):
    return Markup("<pre>{}</pre>").format(getattr(model, name) or "")


# --- settings --------------------------------------------------------------------
def settings_to_config(form) -> dict:
    """The form in the `settings` shape of config as code, for `check_settings`."""
    return compact({
        "timezone": form.timezone.data,
        "quota": compact({"limit": form.quota_limit.data, "period": form.quota_period.data,
                          "daily_budget": form.daily_budget.data,
                          "max_lateness_days": form.max_lateness_days.data}),
        "channel": form.channel.data, "webhook_url": form.webhook_url.data,
        "wecom": compact({"corp_id": form.wecom_corp_id.data,
                          "secret": form.wecom_secret.data or None,
                          "callback_token": form.wecom_callback_token.data or None,
                          "callback_aes_key": form.wecom_aes_key.data or None,
                          "api_base_url": form.wecom_api_base_url.data,
                          "welcome_message": form.welcome_message.data}),
        "lifecycle_stages": form.lifecycle_stages.data,
        "tiers": compact({"high": form.tier_high_threshold.data,
                          "potential": form.tier_potential_threshold.data}),
        "crm": compact({name: form[name].data or None if name in V.CRM_TEXT_SETTINGS
                        else form[name].data for name in CRM_FIELDS}),
    })


CRM_FIELDS = (*V.CRM_SETTINGS, *V.CRM_TEXT_SETTINGS)

SETTINGS_FIELDS = {
    "timezone": "timezone", "channel": "channel", "webhook_url": "webhook_url",
    "quota": {"limit": "quota_limit", "period": "quota_period",
              "daily_budget": "daily_budget", "max_lateness_days": "max_lateness_days"},
    "wecom": {"corp_id": "wecom_corp_id", "secret": "wecom_secret",
              "callback_token": "wecom_callback_token", "callback_aes_key": "wecom_aes_key",
              "api_base_url": "wecom_api_base_url", "welcome_message": "welcome_message"},
    "lifecycle_stages": "lifecycle_stages",
    "tiers": {"high": "tier_high_threshold", "potential": "tier_potential_threshold"},
    "crm": {name: name for name in CRM_FIELDS},
}


class SettingsView(ConnectionTestMixin, SecuredModelView):
    """The one settings row: the list page opens its edit form."""

    roles = ("admin",)
    write_roles = ("admin",)
    create_roles = ()
    delete_roles = ()
    can_view_details = False  # would show the secrets

    column_list = ("timezone", "channel", "quota_limit", "quota_period")
    form_columns = ("timezone", "quota_limit", "quota_period", "daily_budget",
                    "max_lateness_days", "channel", "webhook_url", "lifecycle_stages",
                    "tier_high_threshold", "tier_potential_threshold", "wecom_corp_id",
                    "wecom_secret", "wecom_callback_token", "wecom_aes_key",
                    "wecom_api_base_url", "welcome_message", *CRM_FIELDS)
    column_labels = {
        "timezone": _l("Time zone"), "quota_limit": _l("Messages per customer per period"),
        "quota_period": _l("Quota period"), "daily_budget": _l("Enterprise budget per day"),
        "max_lateness_days": _l("Expire deliveries late by more than (days)"),
        "channel": _l("Channel"), "webhook_url": _l("Webhook URL"),
        "lifecycle_stages": _l("Lifecycle stages"),
        "tier_high_threshold": _l("High tier from annual value"),
        "tier_potential_threshold": _l("Potential tier from annual value"),
        "wecom_corp_id": _l("WeCom corp ID"), "wecom_secret": _l("WeCom secret"),
        "wecom_callback_token": _l("WeCom callback token"),
        "wecom_aes_key": _l("WeCom EncodingAESKey"),
        "wecom_api_base_url": _l("WeCom API base URL"),
        "welcome_message": _l("Welcome message"),
        "followup_days_high": _l("Follow up high-tier customers every (days)"),
        "followup_days_potential": _l("Follow up potential-tier customers every (days)"),
        "followup_days_normal": _l("Follow up normal-tier customers every (days)"),
        "followup_days_nurture": _l("Follow up customers put to nurture every (days)"),
        "request_sla_hours": _l("Answer customer requests within (hours)"),
        "review_working_days": _l("Review new customer records within (working days)"),
        "churn_warning_days": _l("Churn warning after no purchase for (days)"),
        "dormant_after_days": _l("Dormant after no interaction for (days)"),
        "prospect_stage": _l("Prospect stage (empty: the first lifecycle stage)"),
        "prospect_min_followups": _l("Follow-ups a prospect needs in the window"),
        "prospect_window_days": _l("Prospect follow-up window (days)"),
    }
    form_overrides = {"quota_period": NameChoiceField, "channel": NameChoiceField,
                      "lifecycle_stages": FreeNamesField, "wecom_secret": WriteOnlyField,
                      "wecom_callback_token": WriteOnlyField, "wecom_aes_key": WriteOnlyField}
    form_args = {"quota_period": {"choices": list(PERIOD_LABELS.items())},
                 "channel": {"choices": list(CHANNEL_LABELS.items())}}
    form_widget_args = {name: {"autocomplete": "new-password"} for name in SECRETS}

    @expose("/")
    def index_view(self):
        row = Settings.get(db.session)
        db.session.commit()
        return redirect(url_for(".edit_view", id=row.id))

    def get_save_return_url(self, model, is_created=False):
        return url_for(".edit_view", id=model.id)

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        for name in SECRETS:
            stored = bool(getattr(obj, name, None))
            form[name].description = _l("A value is stored; leave blank to keep it.") \
                if stored else _l("Not set.")
        return form

    config_validator = staticmethod(item_validator(check_settings))
    problem_fields = SETTINGS_FIELDS

    def to_config(self, form) -> dict:
        return settings_to_config(form)


# --- audit log ---------------------------------------------------------------------
def audited_types():
    return [(t, OBJECT_LABELS.get(t, t)) for t in db.session.scalars(
        select(AuditLog.object_type).distinct().order_by(AuditLog.object_type))]


class AuditLogView(SecuredModelView):
    roles = ("admin",)
    write_roles = ()
    simple_list_pager = True  # the log only grows; no COUNT(*) over it
    column_list = ("at", "actor", "action", "object_type", "object_id", "summary")
    column_details_list = ("at", "actor", "action", "object_type", "object_id", "summary",
                           "before", "after")
    column_labels = {"at": _l("When"), "actor": _l("Who"), "action": _l("Action"),
                     "object_type": _l("Object type"), "object_id": _l("Object ID"),
                     "summary": _l("Object"), "before": _l("Before"), "after": _l("After")}
    column_default_sort = ("id", True)
    column_sortable_list = ("at", "actor", "object_type")
    column_filters = (
        FilterEqual(AuditLog.actor, _l("Who")),
        FilterLike(AuditLog.actor, _l("Who")),
        FilterEqual(AuditLog.object_type, _l("Object type"), options=LazyOptions(audited_types)),
        FilterEqual(AuditLog.action, _l("Action"), options=list(AUDIT_ACTION_LABELS.items())),
    )
    column_formatters = {"action": labelled(AUDIT_ACTION_LABELS),
                         "object_type": labelled(OBJECT_LABELS),
                         "summary": lambda v, c, m, n: audit_summary(m.object_type, m.summary)}
    column_formatters_detail = column_formatters | {"before": pretty_json,
                                                    "after": pretty_json}


# --- SOP versions ---------------------------------------------------------------------
def sop_options():
    return [(str(s.id), str(s)) for s in db.session.scalars(select(Sop).order_by(Sop.key))]


def snapshot_yaml(view, context, model, name):
    text = yaml.safe_dump(model.snapshot, allow_unicode=True, sort_keys=False)
    return Markup("<pre>{}</pre>").format(text)


class SopVersionView(SecuredModelView):
    roles = ("admin", "ops")
    write_roles = ()
    column_list = ("sop", "version", "actor", "created_at")
    column_details_list = ("sop", "version", "actor", "created_at", "diff", "snapshot")
    column_labels = {"sop": _l("SOP"), "version": _l("Version"), "actor": _l("Who"),
                     "created_at": _l("When"), "diff": _l("Changes"),
                     "snapshot": _l("Saved configuration")}
    column_default_sort = ("id", True)
    column_sortable_list = ("version", "created_at")
    # the SOP list links here with flt0_0=<sop id>: keep this filter first
    column_filters = (IntEqualFilter(SopVersion.sop_id, _l("SOP"),
                                  options=LazyOptions(sop_options)),)
    column_formatters_detail = {"diff": preformatted, "snapshot": snapshot_yaml}
