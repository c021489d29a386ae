"""The API documentation page: /api/v1/openapi.json rendered by the app's own static
script (api/static/openapi.js), for anyone signed in."""
from __future__ import annotations

from flask_admin import expose

from admin_views.base import SecuredView
from jobs.core.vocab import ROLES


class ApiDocsView(SecuredView):
    roles = ROLES

    @expose("/")
    def index(self):
        return self.render("admin/api_docs.html")
