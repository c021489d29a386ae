"""The shared SQLAlchemy handle, naming convention and small column helpers."""
from datetime import datetime, timezone

import sqlite3

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import JSON, DateTime, MetaData, TypeDecorator, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)


def _sqlite_foreign_keys(dbapi_connection, connection_record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        # WAL: readers and the writer no longer wait on each other (two send workers,
        # the tick, the web), and a commit appends to the log instead of syncing the
        # rollback journal; NORMAL syncs at checkpoints only (bench/send.py). A
        # database another connection is busy with stays as it is until next time.
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError:
            pass
        cursor.execute("PRAGMA synchronous = NORMAL")
        # Checkpoint every ~40 MB of log, not every 4 MB: an index page rewritten by
        # many commits is copied back once (half a send burst's commit time went to
        # checkpoints, bench/send.py); the log is cut back to 64 MB after each.
        cursor.execute("PRAGMA wal_autocheckpoint = 10000")
        cursor.execute("PRAGMA journal_size_limit = 67108864")
        # A 64 MB page cache (default 2 MB): the tick's index lookups over a base of
        # millions stay in it instead of re-reading pages through the OS.
        cursor.execute("PRAGMA cache_size = -65536")
        cursor.close()


def enforce_sqlite_foreign_keys() -> None:
    """SQLite ignores foreign keys unless each connection asks; ask always (idempotent),
    with the write-ahead log."""
    if not event.contains(Engine, "connect", _sqlite_foreign_keys):
        event.listen(Engine, "connect", _sqlite_foreign_keys)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, always hands back aware UTC datetimes (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pass an aware datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


def in_check(column: str, values) -> str:
    """SQL text for a CHECK that keeps `column` within a fixed vocabulary."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


JSONList = JSON  # lists of names (sources, stages) kept in their YAML shape
