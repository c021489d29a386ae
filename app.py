"""Application factory: configuration, extensions, admin, API and CLI.

Nothing happens at import time; `create_app()` builds a fresh app each call.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask, has_request_context, session
from flask_babel import Babel
from flask_login import LoginManager, current_user
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

ROOT = Path(__file__).resolve().parent
LOCALES = {"zh": "zh_Hans_CN", "en": "en"}


def database_url_from_env(instance: Path) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{instance / 'sop.db'}"
    # Heroku-style and plain postgresql:// URLs both go through psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def secret_key_from_env(instance: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept in instance/."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def default_config(instance: Path) -> dict:
    return {
        "SQLALCHEMY_DATABASE_URI": database_url_from_env(instance),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "REDIS_EMBEDDED_PATH": str(instance / "redis.db"),
        "SOP_TIMEZONE": os.environ.get("SOP_TIMEZONE", "Asia/Shanghai"),
        "UPLOAD_FOLDER": os.environ.get("UPLOAD_FOLDER", str(instance / "uploads")),
        "MAX_CONTENT_LENGTH": 20 * 1024 * 1024,
        "BABEL_DEFAULT_LOCALE": "zh_Hans_CN",
        "BABEL_TRANSLATION_DIRECTORIES": str(ROOT / "admin_views" / "translations"),
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Served over HTTPS (behind TLS): the session cookie is sent over HTTPS only.
        "SESSION_COOKIE_SECURE": env_flag("SESSION_COOKIE_SECURE"),
        "REMEMBER_COOKIE_SECURE": env_flag("SESSION_COOKIE_SECURE"),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "LOGIN_FAILURES_PER_ACCOUNT": os.environ.get("LOGIN_FAILURES_PER_ACCOUNT",
                                                     "5 per 15 minutes"),
        "LOGIN_FAILURES_PER_ADDRESS": os.environ.get("LOGIN_FAILURES_PER_ADDRESS",
                                                     "20 per 15 minutes"),
        # /metrics: these addresses (comma-separated, CIDR allowed) or the bearer token
        "METRICS_ALLOW": os.environ.get("METRICS_ALLOW", "127.0.0.1,::1"),
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN") or None,
        "FLASK_ADMIN_SWATCH": "cerulean",
    }


def select_locale() -> str:
    if not has_request_context():
        return "zh_Hans_CN"
    lang = session.get("lang")
    if lang in LOCALES:
        return LOCALES[lang]
    user_locale = getattr(current_user, "locale", None) if current_user else None
    if user_locale in LOCALES:
        return LOCALES[user_locale]
    return "zh_Hans_CN"


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=os.environ.get("SOP_INSTANCE", str(ROOT / "instance")))
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    app.config.update(default_config(instance))
    app.config["SECRET_KEY"] = (config or {}).get("SECRET_KEY") or secret_key_from_env(instance)
    app.config.update(config or {})
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {}

    from models import db, User
    from models.audit import install_audit, set_actor
    from models.base import enforce_sqlite_foreign_keys

    enforce_sqlite_foreign_keys()
    db.init_app(app)
    Migrate(app, db, directory=str(ROOT / "migrations"), render_as_batch=True,
            compare_type=True)
    install_audit()
    Babel(app, locale_selector=select_locale)
    csrf = CSRFProtect(app)

    login = LoginManager(app)
    login.login_view = "auth.login"
    login.login_message = None

    @login.user_loader
    def load_user(user_id: str):
        user = db.session.get(User, int(user_id))
        return user if user is not None and user.active else None

    @app.before_request
    def remember_actor():
        set_actor(current_user.username if current_user.is_authenticated else "anonymous")

    from admin_views.security import init_login_limiter, install_headers
    from api.request_log import install_request_log

    install_headers(app)
    init_login_limiter(app)
    install_request_log(app)

    from admin_views import init_admin
    from admin_views.auth import auth_bp, error_page
    from api import api_bp, error_pages
    from api.wecom_callback import wecom_bp
    from api.health import health_bp
    from seed.cli import register_cli
    import jobs.lifecycle  # noqa: F401  (its listeners cancel sends of deleted steps)

    app.register_blueprint(auth_bp)
    app.register_blueprint(health_bp)
    csrf.exempt(api_bp)  # the API authenticates with bearer tokens, not cookies
    app.register_blueprint(api_bp)
    csrf.exempt(wecom_bp)  # WeCom calls it; its security is the message signature
    app.register_blueprint(wecom_bp)
    error_pages(app, error_page)

    @app.get("/favicon.ico")
    def favicon():  # browsers ask for it on every first visit
        return app.send_static_file("favicon.ico"), 200, {"Cache-Control": "max-age=86400"}

    init_admin(app)
    register_cli(app)
    return app
