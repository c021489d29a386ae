"""One evaluator at a time, one sender per batch: locks a second taker fails to get at once.

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
BATCH_LOCK_CLASS = 0x50_50_7F_02  # two-key advisory locks (class, batch id) of the senders


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
def batch_lock(engine: Engine, batch_id: int) -> Iterator[bool]:
    """Held by the one sender working on a batch; gone with it if it dies mid-call,
    which is how a batch left `sending` is known to be abandoned (no clock involved)."""
    if engine.dialect.name == "postgresql":
        with _advisory(engine, BATCH_LOCK_CLASS, batch_id) as held:
            yield held
    else:
        directory = _lock_path(engine).removesuffix(".tick-lock") + ".batch-locks"
        os.makedirs(directory, exist_ok=True)
        with _file_lock(os.path.join(directory, str(batch_id))) as held:
            yield held


@contextmanager
def _advisory(engine: Engine, *key: int) -> Iterator[bool]:
    key = key or (ADVISORY_KEY,)
    args = ", ".join(f":k{i}" for i in range(len(key)))
    params = {f"k{i}": k for i, k in enumerate(key)}
    with engine.connect() as conn:
        held = conn.execute(text(f"SELECT pg_try_advisory_lock({args})"), params).scalar()
        conn.commit()
        try:
            yield bool(held)
        finally:
            if held:
                conn.execute(text(f"SELECT pg_advisory_unlock({args})"), params)
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
