"""One evaluator at a time: a lock a second tick fails to take at once, and exits.

PostgreSQL: a session advisory lock on a connection of its own. SQLite: an
exclusive `flock` on a file beside the database. Both vanish with the process
that holds them, so a killed worker never leaves a stale lock, and neither
depends on a clock (DESIGN "Rules that keep it safe"; a lock *row* would outlive
a crash, hence the file on SQLite).
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from collections.abc import Iterator

from sqlalchemy import text
from sqlalchemy.engine import Engine

ADVISORY_KEY = 0x50_50_7F_01  # "the SOP tick"; any constant unique to this product


@contextmanager
def tick_lock(engine: Engine) -> Iterator[bool]:
    """Yields True when this process now holds the lock, False when another does."""
    if engine.dialect.name == "postgresql":
        with _advisory(engine) as held:
            yield held
    else:
        with _file_lock(_lock_path(engine)) as held:
            yield held


@contextmanager
def _advisory(engine: Engine) -> Iterator[bool]:
    with engine.connect() as conn:
        held = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar()
        conn.commit()
        try:
            yield bool(held)
        finally:
            if held:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
                conn.commit()


def _lock_path(engine: Engine) -> str:
    database = engine.url.database
    if not database or database == ":memory:":
        return os.path.join("/tmp", f"sop-tick-{os.getpid()}.lock")
    return f"{os.path.abspath(database)}.tick-lock"


@contextmanager
def _file_lock(path: str) -> Iterator[bool]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
