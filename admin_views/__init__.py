"""Builds a fresh Flask-Admin per app from the screen modules."""
from __future__ import annotations

from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from flask_babel import lazy_gettext as _l

from admin_views.base import SecuredIndexView


def init_admin(app) -> Admin:
    admin = Admin(
        app,
        name=_l("Customer SOP"),
        index_view=SecuredIndexView(name=_l("Home"), url="/admin",
                                    template="admin/home.html"),
        theme=Bootstrap4Theme(swatch="cerulean", base_template="admin/my_master.html"),
    )
    from admin_views import screens

    for view in screens.all_views():
        admin.add_view(view)
    return admin
