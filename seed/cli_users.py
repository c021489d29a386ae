"""`flask users create NAME --role ROLE [--password PW] [--employee USERID]` and
`flask users token NAME` (SPEC §8)."""
from __future__ import annotations

import secrets

import click
from flask.cli import AppGroup
from sqlalchemy import select

from jobs.core.passwords import MESSAGES as PASSWORD_MESSAGES, problems as password_problems
from jobs.core.vocab import ROLES
from models import ApiToken, Employee, User, db
from models.audit import acting_as

users_cli = AppGroup("users", help="Manage logins and API tokens.")


def _user(name: str) -> User:
    user = db.session.scalar(select(User).where(User.username == name))
    if user is None:
        raise click.ClickException(f"no user named '{name}'")
    return user


@users_cli.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--password", help="Generated and printed when omitted.")
@click.option("--employee", "employee_userid", help="Link to this employee (WeCom userid).")
def create_user(name, role, password, employee_userid):
    """Create a login."""
    if db.session.scalar(select(User).where(User.username == name)) is not None:
        raise click.ClickException(f"user '{name}' already exists")
    if not 1 <= len(name) <= 64:
        raise click.ClickException("the name must be 1 to 64 characters")
    employee = None
    if employee_userid:
        employee = db.session.scalar(select(Employee).where(Employee.userid == employee_userid))
        if employee is None:
            raise click.ClickException(f"no employee with userid '{employee_userid}'")
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    refused = password_problems(password, name)
    if refused:
        raise click.ClickException(" ".join(PASSWORD_MESSAGES[code] for code in refused))
    with acting_as("cli"):
        user = User(username=name, role=role, employee=employee)
        user.set_password(password)
        db.session.add(user)
        db.session.commit()
    click.echo(f"created user {name} ({role})")
    if generated:
        click.echo(f"password: {password}")


@users_cli.command("token")
@click.argument("name")
def new_token(name):
    """Print a new API token for NAME (shown once)."""
    user = _user(name)
    with acting_as("cli"):
        token, plain = ApiToken.issue(user)
        db.session.add(token)
        db.session.commit()
    click.echo(plain)
