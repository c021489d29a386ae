"""`flask db upgrade` builds the schema from nothing, identical to the models."""
from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from app import create_app
from models import db
from models.counter_triggers import SOURCES, trigger_name


def expected_triggers() -> set[str]:
    return {trigger_name(s, e) for s in SOURCES for e in s.events}


def counter_triggers(engine) -> set[str]:
    """The counters' triggers present in the database (a batch-altered SQLite table
    loses its triggers: a later migration must make them again)."""
    sql = ("SELECT name FROM sqlite_master WHERE type = 'trigger'"
           if engine.dialect.name == "sqlite" else
           "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
    with engine.connect() as conn:
        return {n for (n,) in conn.execute(text(sql)) if n.startswith("cnt_")}


@pytest.fixture
def empty_database_url(app, tmp_path):
    """A brand-new database on the same server as the suite's (a file on SQLite)."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    name = f"sop_migrate_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_upgrade_from_nothing_matches_models_and_downgrades(empty_database_url):
    migrated = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url,
                           "SECRET_KEY": "x"})
    with migrated.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
            tables = set(inspect(conn).get_table_names())
        assert diff == [], f"migrations differ from the models: {diff}"
        assert {"customers", "sops", "sop_steps", "journeys", "audit_log"} <= tables
        assert counter_triggers(db.engine) == expected_triggers(), \
            "the counters' triggers are missing at head (models/counter_triggers.py)"
        downgrade(revision="base")
        with db.engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()
