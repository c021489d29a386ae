"""Login, logout and the language switch."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from admin_views.security import count_failure, login_locked, reset_failures
from models import User, db
from models.audit import AuditLog

# The panel's own static files (admin_views/static) are served under /assets/.
auth_bp = Blueprint("auth", __name__, template_folder="templates", static_folder="static",
                    static_url_path="/assets")


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


def safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login."""
    if target and not urlsplit(target).netloc and target.startswith("/") \
            and not target.startswith("//"):
        return target
    return url_for("admin.index")


@auth_bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("admin.index"))
    form = LoginForm()
    if form.validate_on_submit():
        app, name, address = current_app._get_current_object(), form.username.data, \
            request.remote_addr
        if login_locked(app, name, address):  # refused before the password is looked at
            flash(LOCKED, "error")
            return render_template("auth/login.html", form=form), 429
        user = db.session.scalar(select(User).where(User.username == name))
        if user is not None and user.active and user.check_password(form.password.data):
            reset_failures(app, name, address)
            login_user(user)
            return redirect(safe_next(request.args.get("next")))
        if count_failure(app, name, address):
            audit_lockout(name, address)
            flash(LOCKED, "error")
            return render_template("auth/login.html", form=form), 429
        flash(_l("Wrong username or password."), "error")
    return render_template("auth/login.html", form=form), 200 if request.method == "GET" else 400


LOCKED = _l("Too many failed sign-ins. Sign-in is locked for a while: try again in 15 "
            "minutes, or ask an administrator.")


def audit_lockout(username: str, address: str | None) -> None:
    """One audit row when failed sign-ins lock an account or an address."""
    db.session.add(AuditLog(actor=(address or "-")[:64], action="lockout",
                            object_type="login", summary=f"{username[:64]} from {address}"))
    db.session.commit()


@auth_bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    return redirect(url_for("auth.login"))


@auth_bp.route("/lang/<code>")
def set_language(code: str):
    """Kept in the session only: a GET link must not write to the database."""
    if code in ("zh", "en"):
        session["lang"] = code
    return redirect(safe_next(request.referrer and urlsplit(request.referrer).path))


ERROR_TEXT = {
    403: _l("You do not have access to this page. Ask an administrator for the role you need."),
    404: _l("This page does not exist, or it is not visible to you."),
    405: _l("This address does not accept that kind of request."),
}


def error_page(exc):
    """The product's own page for 403/404/405, in the user's language."""
    return render_template("error.html", code=exc.code,
                           text=ERROR_TEXT.get(exc.code, exc.description)), exc.code


@auth_bp.route("/")
def home():
    return redirect(url_for("admin.index"))
