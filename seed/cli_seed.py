"""`flask seed demo` and `flask seed synthetic N` (data for benchmarks)."""
from __future__ import annotations

import time

import click
from flask.cli import AppGroup

from models import db

seed_cli = AppGroup("seed", help="Load demo or synthetic data.")


@seed_cli.command("demo")
@click.option("--no-logins", is_flag=True, help="Do not print the demo logins at the end.")
def demo(no_logins: bool):
    """Load the demo configuration, logins and ~2,000 customers (safe to re-run)."""
    from seed.demo import DemoError, login_lines, seed_demo

    started = time.monotonic()
    try:
        summary = seed_demo(db.session)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from exc
    new = summary.inserted
    click.echo(f"inserted {new['customers']} customers, {new['orders']} orders, "
               f"{new['tags']} customer tags; created users: "
               f"{', '.join(summary.users_created) or 'none'}")
    click.echo("totals: " + ", ".join(f"{k} {v}" for k, v in summary.totals.items()))
    click.echo(f"done in {time.monotonic() - started:.1f} s")
    for line in [] if no_logins else login_lines():
        click.echo(line)


@seed_cli.command("synthetic")
@click.argument("count", type=click.IntRange(1, 10_000_000))
@click.option("--prefix", default="syn", show_default=True,
              help="External ids are PREFIX + number; reuse it to extend a set.")
def synthetic(count, prefix):
    """Insert COUNT synthetic customers with set-based SQL (for benchmarks)."""
    from seed.synthetic import make_customers

    started = time.monotonic()
    try:
        made = make_customers(db.session, count, prefix=prefix)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"inserted {made} synthetic customers in {time.monotonic() - started:.1f} s")
