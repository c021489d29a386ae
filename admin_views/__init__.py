"""Builds a fresh Flask-Admin per app from the screen modules."""
from __future__ import annotations

from pathlib import Path

from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from flask_babel import lazy_gettext as _l

from admin_views.home import HomeView
from admin_views.security import csp_nonce


def init_admin(app) -> Admin:
    admin = Admin(
        app,
        name=_l("Customer SOP"),
        index_view=HomeView(name=_l("Home"), url="/admin"),
        # fills gaps in Flask-Admin's own Chinese catalogue (admin.po)
        translations_path=str(Path(__file__).parent / "translations"),
        csp_nonce_generator=csp_nonce,  # for Flask-Admin's stock inline blocks only
        theme=Bootstrap4Theme(swatch="cerulean", fluid=True, base_template="admin/my_master.html"),
    )
    from admin_views import screens

    for view in screens.all_views():
        admin.add_view(view)
    return admin
