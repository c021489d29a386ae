"""Builds a fresh Flask-Admin per app from the screen modules."""
from __future__ import annotations

from pathlib import Path

from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from flask_babel import lazy_gettext as _l

from admin_views.home import HomeView
from admin_views.security import csp_nonce


TRANSLATIONS = str(Path(__file__).parent / "translations")


def _our_admin_words_win() -> None:
    """Flask-Admin merges its bundled catalogue over the app's admin.po, so ours could
    only fill gaps; its Chinese stock words ("选中的", "项目") read oddly. flask-babel
    lets the directory listed last win, so list ours last."""
    from flask_admin import babel as admin_babel

    domain = admin_babel.domain
    if getattr(domain, "ours_last", False):
        return

    class OursLast(type(domain)):
        ours_last = True

        @property
        def translation_directories(self) -> list[str]:
            dirs = super().translation_directories
            return [d for d in dirs if d != TRANSLATIONS] + [TRANSLATIONS]

    domain.__class__ = OursLast
    domain.cache.clear()


def init_admin(app) -> Admin:
    admin = Admin(
        app,
        name=_l("Customer SOP"),
        index_view=HomeView(name=_l("Home"), url="/admin"),
        # Flask-Admin's own words in Chinese (admin.po), over its bundled catalogue
        translations_path=TRANSLATIONS,
        csp_nonce_generator=csp_nonce,  # for Flask-Admin's stock inline blocks only
        theme=Bootstrap4Theme(swatch="cerulean", fluid=True, base_template="admin/my_master.html"),
    )
    _our_admin_words_win()
    from admin_views import screens
    from admin_views.form_problems import form_problems

    app.jinja_env.globals["form_problems"] = form_problems

    for view in screens.all_views():
        admin.add_view(view)
    return admin
