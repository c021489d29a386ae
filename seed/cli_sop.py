"""`flask sop tick|send [--at]` (the engine by hand), `flask sop import FILE` and
`flask sop export [FILE]` (config as code)."""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone

import click
import yaml
from flask.cli import AppGroup

from jobs.evaluator import tick
from jobs.events import parse_time
from models import db
from models.audit import acting_as
from config_io.importer import dump_yaml, export_document, import_document, load_yaml

sop_cli = AppGroup("sop", help="SOP engine commands.")


def _at(value: str | None) -> datetime:
    if not value:
        return datetime.now(timezone.utc)
    try:
        return parse_time(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: {exc}", param_hint="--at") from None


AT = click.option("--at", "at", metavar="ISO8601",
                  help="Run as of this time (with a UTC offset), default now.")


@sop_cli.command("tick")
@AT
def tick_command(at):
    """Run one evaluator pass and print its summary as JSON."""
    with acting_as("cli:tick"):
        summary = tick(db.session, _at(at))
    click.echo(json.dumps(summary, ensure_ascii=False, sort_keys=True))
    if "skipped" in summary:
        raise SystemExit(3)  # another tick was running; nothing was done


@sop_cli.command("send")
@AT
def send_command(at):
    """Hand every batch due by then to its channel; print a JSON summary."""
    from flask import current_app

    from jobs.channels import channel_for
    from jobs.sender import send_due

    app = current_app._get_current_object()
    with acting_as("cli:send"):
        summary = send_due(db.session, _at(at), lambda name: channel_for(name, app))
    click.echo(json.dumps(summary, ensure_ascii=False, sort_keys=True))


@sop_cli.command("import")
@click.argument("path", type=click.Path(dir_okay=False, allow_dash=True))
@AT
def import_config(path, at):
    """Validate FILE and apply it all or nothing (an SOP set running starts --at)."""
    try:
        with click.open_file(path, encoding="utf-8") as fh:
            doc = load_yaml(fh)
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise click.ClickException(f"{path} is not valid YAML: {exc}") from exc
    if doc is None:  # an empty file is an empty document
        doc = {}
    with acting_as("cli:import"):
        try:
            problems = import_document(db.session, doc, _at(at))
        except Exception:
            db.session.rollback()
            raise
        if problems:
            db.session.rollback()
            for problem in problems:
                click.echo(str(problem), err=True)
            raise click.ClickException(
                f"{len(problems)} problem(s) in {path}; nothing was written")
        db.session.commit()
    counts = ", ".join(f"{len(doc.get(k) or [])} {k}" for k in
                       ("employees", "tags", "materials", "segments", "sops", "journeys"))
    click.echo(f"imported {path}: {counts}")


@sop_cli.command("export")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
def export_config(path):
    """Write the configuration as YAML to FILE (default: standard output)."""
    text = dump_yaml(export_document(db.session))
    db.session.rollback()  # Settings.get may have created the default row; export writes nothing
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        click.echo(f"exported to {path}", err=True)
    else:
        sys.stdout.write(text)


@sop_cli.command("calendar-fill")
def calendar_fill_command():
    """Fill the work calendar from chinesecalendar (idempotent; entered days are kept)."""
    from jobs.workdays import fill_from_package

    with acting_as("cli:calendar"):
        added = fill_from_package(db.session)
        db.session.commit()
    click.echo(json.dumps({"added": added}))


stats_cli = AppGroup("stats", help="The data pages' counters.")
sop_cli.add_command(stats_cli)


@stats_cli.command("rebuild")
@click.option("--sop", "sop_key", metavar="KEY", help="Only this SOP's counters.")
def stats_rebuild(sop_key):
    """Recount the counters from the rows, repair what differs, print what was fixed."""
    from sqlalchemy import select

    from jobs.counters import rebuild
    from models import Sop

    sop = None
    if sop_key:
        sop = db.session.scalar(select(Sop).where(Sop.key == sop_key))
        if sop is None:
            raise click.BadParameter(f"no SOP {sop_key!r}", param_hint="--sop")
    report = rebuild(db.session, sop)
    click.echo(json.dumps(report, sort_keys=True))
    fixed = sum(t["fixed"] for t in report.values())
    click.echo(f"{fixed} counter keys fixed" if fixed else "counters match the rows",
               err=True)
