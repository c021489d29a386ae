"""One evaluator at a time, one sender per batch: locks a second taker fails to get at once.

PostgreSQL: a session advisory lock — the tick's on a connection of its own, a
sender's on the connection its session works on (one connection per batch, not
two). SQLite: an exclusive `flock` on a file beside the database. Both vanish with
the process that holds them, so a killed worker never leaves a stale lock, and
neither depends on a clock (DESIGN "Rules that keep it safe"; a lock *row* would
outlive a crash, hence the file on SQLite).
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from collections.abc import Iterator

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

ADVISORY_KEY = 0x50_50_7F_01  # "the SOP tick"; any constant unique to this product
BATCH_LOCK_CLASS = 0x50_50_7F_02  # two-key advisory locks (class, batch id) of the senders


@contextmanager
def tick_lock(engine: Engine) -> Iterator[bool]:
    """Yields True when this process now holds the lock, False when another does."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn, _advisory(conn, conn) as held:
            yield held
    else:
        with _file_lock(_lock_path(engine)) as held:
            yield held


@contextmanager
def batch_lock(session: Session, batch_id: int) -> Iterator[bool]:
    """Held by the one sender working on a batch; gone with it if it dies mid-call,
    which is how a batch left `sending` is known to be abandoned (no clock involved).

    On PostgreSQL the lock is taken on the session's own connection when the session
    is pinned to one (`jobs.send_jobs.pinned_session`: a sender's commits then keep
    it), else on a connection lent by the engine for the while."""
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    if engine.dialect.name == "postgresql":
        if isinstance(bind, Connection):
            with _advisory(session, bind, BATCH_LOCK_CLASS, batch_id) as held:
                yield held
        else:
            with engine.connect() as conn, \
                    _advisory(conn, conn, BATCH_LOCK_CLASS, batch_id) as held:
                yield held
    else:
        directory = _lock_path(engine).removesuffix(".tick-lock") + ".batch-locks"
        os.makedirs(directory, exist_ok=True)
        with _file_lock(os.path.join(directory, str(batch_id)), remove=True) as held:
            yield held


@contextmanager
def _advisory(executor: Connection | Session, conn: Connection, *key: int) -> Iterator[bool]:
    """A session-level advisory lock on `conn` (taken through `executor`, the
    connection or the session pinned to it): it outlives the commits made meanwhile,
    and is released here — or with the connection, if that fails."""
    key = key or (ADVISORY_KEY,)
    args = ", ".join(f":k{i}" for i in range(len(key)))
    params = {f"k{i}": k for i, k in enumerate(key)}
    held = executor.execute(text(f"SELECT pg_try_advisory_lock({args})"), params).scalar()
    if isinstance(executor, Connection):  # a session goes on in this transaction
        executor.commit()
    try:
        yield bool(held)
    finally:
        if held:
            try:
                executor.rollback()  # whatever the holder left unfinished (an error)
                executor.execute(text(f"SELECT pg_advisory_unlock({args})"), params)
                executor.commit()
            except Exception:
                conn.invalidate()  # never pool a connection that may still hold it
                raise


def _lock_path(engine: Engine) -> str:
    database = engine.url.database
    if not database or database == ":memory:":
        return os.path.join("/tmp", f"sop-tick-{os.getpid()}.lock")
    return f"{os.path.abspath(database)}.tick-lock"


@contextmanager
def _file_lock(path: str, remove: bool = False) -> Iterator[bool]:
    """`remove`: the holder deletes the file before letting go (one file per batch
    would otherwise pile up). A taker that locked a file already deleted (it opened
    it just before) holds nothing: it opens the path again."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            yield False
            return
        if not remove or _same_file(fd, path):
            break
        os.close(fd)  # closing lets go of the lock on the deleted file
    try:
        yield True
    finally:
        try:
            if remove:
                os.unlink(path)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _same_file(fd: int, path: str) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
