"""The list of screens, in menu order; who sees which is declared on each view."""
from flask_babel import lazy_gettext as _l


def all_views():
    from admin_views.journeys import JourneyView
    from admin_views.sops import SopView
    from admin_views.system import AuditLogView, SettingsView, SopVersionView
    from models import AuditLog, Journey, Settings, Sop, SopVersion

    sop, system = _l("SOP"), _l("System")
    return [
        SopView(Sop, _l("SOPs"), category=sop, endpoint="sops"),
        JourneyView(Journey, _l("Journeys"), category=sop, endpoint="journeys"),
        SopVersionView(SopVersion, _l("SOP versions"), category=sop, endpoint="sop_versions"),
        SettingsView(Settings, _l("Settings"), category=system, endpoint="settings"),
        AuditLogView(AuditLog, _l("Audit log"), category=system, endpoint="audit_log"),
    ]
