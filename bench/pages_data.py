"""The data pages benchmark's data set (bench/pages.py), built set-based: no row passes
through Python. See bench/pages.py for what it holds and BENCHMARKS.md for the figures."""
from __future__ import annotations

import math
import statistics
import time
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import select, text, update

from bench.evaluator import log
try:
    from models.counter_triggers import backfill_moves, create_triggers, drop_triggers
except ImportError:  # a version before the counters (the "before" figures)
    backfill_moves = create_triggers = drop_triggers = None
from seed.synthetic import _now

WINDOW_DAYS = 90  # enrollments, orders: within the last 90 days
HASH = "2654435761"  # Knuth's multiplicative hash, as seed/synthetic.py
BIG_TABLES = ("customers", "customer_tags", "enrollments", "deliveries", "orders", "tasks",
              "journey_placements")
MOVED = 4  # of 10 customers, this many left their first stage of the funnel journey


# --- set-up -------------------------------------------------------------------------
def numbers(dialect: str, count: str) -> str:
    """A CTE `seq(n)` of 0 .. count-1."""
    if dialect == "postgresql":
        return f"seq(n) AS (SELECT CAST(generate_series(0, {count} - 1) AS BIGINT) AS n)"
    return (f"seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < {count})")


def ago(dialect: str, seconds: str) -> str:
    """`:now` - `seconds` (may be negative: the future) as each database stores it."""
    if dialect == "postgresql":
        return f"(CAST(:now AS TIMESTAMP) - ({seconds}) * INTERVAL '1 second')"
    return f"(datetime(:now, (-({seconds})) || ' seconds') || '.000000')"


def local_day(dialect: str, timestamp: str) -> str:
    return f"date({timestamp})" if dialect == "sqlite" else f"CAST({timestamp} AS DATE)"


@contextmanager
def indexes_built_after(session, tables=BIG_TABLES):
    """Drop the tables' indexes (not their keys or unique constraints), yield, build
    them again: one sort per index instead of millions of inserts into each."""
    from models import db

    indexes = [ix for name in tables for ix in db.metadata.tables[name].indexes]
    bind = session.connection()
    for index in indexes:
        index.drop(bind)
    session.commit()
    yield
    started = time.perf_counter()
    bind = session.connection()
    for index in indexes:
        index.create(bind)
    session.commit()
    log(f"{len(indexes)} indexes built in {time.perf_counter() - started:.1f} s")


def deliveries_per_enrollment(session) -> float:
    """Expected deliveries of one enrollment (the steps whose day has come), averaged
    over the SOPs: an enrollment of age a (uniform over the window) has step d if
    a >= (d - 1) days (the step due tomorrow is written, pending)."""
    from models import SopStep

    per_sop: dict[int, float] = {}
    for sop_id, day in session.execute(select(SopStep.sop_id, SopStep.day)):
        share = max(0.0, (WINDOW_DAYS - max(day - 1, 0)) / WINDOW_DAYS)
        per_sop[sop_id] = per_sop.get(sop_id, 0.0) + share
    return statistics.mean(per_sop.values())


def make_enrollments(session, count: int, customers: int, dialect: str, stamp: str) -> None:
    """Enrollment n: customer n % N, its (n // N)-th SOP: (hash + 7 k) % 20 (distinct
    for k < 20); entered `age` seconds ago (a hash of customer and SOP)."""
    age = f"((c.id * {HASH} + s.id * 97) % 4294967296) % {WINDOW_DAYS * 86400}"
    entered = ago(dialect, age)
    session.execute(text(f"""
        WITH RECURSIVE {numbers(dialect, ':count')},
        ranked AS (SELECT id, holdout_percent,
                          ROW_NUMBER() OVER (ORDER BY id) - 1 AS k FROM sops),
        picked AS (SELECT n, :lo + n % :customers AS customer_id,
                          ((:lo + n % :customers) * {HASH} % 4294967296 / 65536
                           + 7 * (n / :customers)) % :sops AS k FROM seq)
        INSERT INTO enrollments (sop_id, customer_id, status, round, enrolled_at, day0,
                                 holdout, ended_at)
        SELECT s.id, c.id,
               CASE WHEN (c.id * 7 + s.id * 13) % 100 < 80 THEN 'active'
                    WHEN (c.id * 7 + s.id * 13) % 100 < 90 THEN 'completed'
                    WHEN (c.id * 7 + s.id * 13) % 100 < 97 THEN 'ended_early'
                    ELSE 'ended_manual' END,
               1, {entered}, {local_day(dialect, entered)},
               s.holdout_percent > 0
                   AND (c.id * {HASH} % 4294967296 / 256) % 100 < s.holdout_percent,
               CASE WHEN (c.id * 7 + s.id * 13) % 100 >= 80
                    THEN {ago(dialect, f'({age}) / 2')} END
        FROM picked p JOIN ranked s ON s.k = p.k JOIN customers c ON c.id = p.customer_id"""),
        {"count": count, "customers": customers, "sops": 20, "now": stamp,
         "lo": session.scalar(text("SELECT MIN(id) FROM customers"))})
    session.commit()


def make_deliveries(session, count: int, dialect: str, stamp: str) -> None:
    """The deliveries of the steps whose day has come (the first `count`): due `off`
    seconds ago (negative: tomorrow's, still pending), a status by a hash."""
    age = f"((e.customer_id * {HASH} + e.sop_id * 97) % 4294967296) % {WINDOW_DAYS * 86400}"
    off = f"({age} - st.day * 86400)"
    r = f"((e.id * 31 + st.position) * {HASH} % 4294967296 / 65536 % 100)"
    status = f"""CASE WHEN {off} < 0 THEN 'pending'
        WHEN e.holdout THEN 'skipped'
        WHEN {off} < 2 * 86400 THEN CASE WHEN {r} < 50 THEN 'sent' WHEN {r} < 65 THEN 'queued'
            WHEN {r} < 80 THEN 'deferred' WHEN {r} < 92 THEN 'pending' ELSE 'failed' END
        WHEN {r} < 82 THEN 'sent' WHEN {r} < 87 THEN 'failed' WHEN {r} < 91 THEN 'skipped'
        WHEN {r} < 95 THEN 'expired' WHEN {r} < 98 THEN 'cancelled' ELSE 'sent' END"""
    handed = f"{off} - {r} * 6"  # queued up to 10 minutes after due
    session.execute(text(f"""
        INSERT INTO deliveries (customer_id, sop_id, enrollment_id, step_id, round, position,
            step_key, action, due_at, first_due_at, status, reason, held_since, created_at,
            queued_at, sent_at)
        SELECT customer_id, sop_id, enrollment_id, step_id, 1, position, step_key, action,
            due_at, due_at, status,
            CASE WHEN status = 'skipped' AND holdout THEN 'holdout' END,
            CASE WHEN status IN ('pending', 'deferred') AND r % 20 = 0 THEN due_at END,
            due_at,
            CASE WHEN status IN ('sent', 'queued', 'failed') THEN queued_at END,
            CASE WHEN status = 'sent' THEN sent_at END
        FROM (SELECT e.customer_id, e.sop_id, e.id AS enrollment_id, st.id AS step_id,
                     st.position, st.key AS step_key, st.action, e.holdout, {r} AS r,
                     {ago(dialect, off)} AS due_at,
                     {ago(dialect, handed)} AS queued_at,
                     {ago(dialect, f'{handed} - 5')} AS sent_at,
                     {status} AS status
              FROM enrollments e JOIN sop_steps st ON st.sop_id = e.sop_id
              WHERE {off} > -86400
              LIMIT :count) d"""), {"count": count, "now": stamp})
    session.commit()


def make_orders_and_tasks(session, customers: int, dialect: str, stamp: str) -> None:
    """N / 10 orders on hashed customers within the window; N / 20 open or done tasks
    for the customers' owners, due from 40 days ago to a week ahead."""
    lo = session.scalar(text("SELECT MIN(id) FROM customers"))
    window = WINDOW_DAYS * 86400
    session.execute(text(f"""
        WITH RECURSIVE {numbers(dialect, ':count')}
        INSERT INTO orders (order_id, customer_id, amount, placed_at)
        SELECT 'po-' || CAST(n AS TEXT), :lo + (n * 7919) % :customers,
               100 + (n * {HASH}) % 50000,
               {ago(dialect, f'(n * {HASH}) % 4294967296 % {window}')}
        FROM seq"""), {"count": customers // 10, "customers": customers, "lo": lo,
                       "now": stamp})
    due = ago(dialect, f"(n * {HASH}) % 4294967296 % (47 * 86400) - 7 * 86400")
    session.execute(text(f"""
        WITH RECURSIVE {numbers(dialect, ':count')}
        INSERT INTO tasks (kind, status, employee_id, customer_id, title, due_at,
                           created_at)
        SELECT 'step', CASE WHEN n % 5 < 3 THEN 'open' ELSE 'done' END, c.owner_id, c.id,
               '电话回访', {due}, {_now(dialect)}
        FROM seq JOIN customers c ON c.id = :lo + (n * 104729) % :customers"""),
        {"count": customers // 20, "customers": customers, "lo": lo, "now": stamp})
    session.commit()


def make_placements(session, dialect: str, stamp: str) -> None:
    """Every customer in a stage of the first journey (by a hash), entered within the
    window; MOVED in 10 of them left it half-way to now for the next stage (open)."""
    from models import Journey, JourneyStage

    journey = session.scalar(select(Journey).order_by(Journey.id).limit(1))
    stages = session.scalars(select(JourneyStage.id).where(JourneyStage.journey_id ==
                             journey.id).order_by(JourneyStage.position)).all()
    age = f"((c.id * {HASH} + 11) % 4294967296) % {WINDOW_DAYS * 86400}"
    pick = f"(c.id * {HASH} % 4294967296 / 65536) % {len(stages)}"
    ranked = " UNION ALL ".join(f"SELECT {i} AS k, {sid} AS stage_id"
                                for i, sid in enumerate(stages))
    for second in (False, True):
        k = f"({pick} + 1) % {len(stages)}" if second else pick
        entered = ago(dialect, f"({age}) / 2") if second else ago(dialect, age)
        left = "NULL" if second else (
            f"CASE WHEN c.id % 10 < {MOVED} THEN {ago(dialect, f'({age}) / 2')} END")
        session.execute(text(f"""
            INSERT INTO journey_placements (journey_id, stage_id, customer_id, entered_at, day0,
                                            left_at, manual)
            SELECT :journey, s.stage_id, c.id, {entered}, {local_day(dialect, entered)},
                   {left}, false
            FROM customers c JOIN ({ranked}) s ON s.k = {k}
            {'WHERE c.id % 10 < :moved' if second else ''}"""),
            {"journey": journey.id, "now": stamp, "moved": MOVED})
    session.commit()


def make_users(session) -> None:
    """An admin, and a manager of 华东销售 (12 of the 40 owners: row-filtered lists)."""
    from models import Department, Employee, User
    from models.audit import acting_as
    from tests.conftest import PASSWORD  # what tests.conftest.login signs in with

    east = session.scalar(select(Department).where(Department.name == "华东销售"))
    manager = Employee(userid="mgr-east", name="华东经理", department=east, role="manager")
    with acting_as("bench"):
        for username, role, employee in (("admin", "admin", None),
                                         ("manager", "manager", manager)):
            user = User(username=username, role=role, employee=employee)
            user.set_password(PASSWORD)
            session.add(user)
        session.commit()


def set_up(session, args, now: datetime) -> dict:
    from bench.scenario import document, make_world
    from models import Sop
    from config_io.importer import import_document

    dialect = session.get_bind().dialect.name
    stamp = now.strftime("%Y-%m-%d %H:%M:%S")
    times: dict[str, float] = {}
    started = clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        times[name] = round(time.perf_counter() - clock, 1)
        log(f"{name}: {times[name]} s")
        clock = time.perf_counter()

    problems = import_document(session, document(), now)
    if problems:
        raise SystemExit("scenario document invalid:\n" + "\n".join(map(str, problems)))
    session.execute(update(Sop).values(status="running", started_at=now))
    make_users(session)
    if drop_triggers:  # the counters are rebuilt after the rows
        drop_triggers(session.connection())
        session.commit()
    with indexes_built_after(session):
        make_world(session, args.customers, now)
        lap("customers_and_tags")
        per = deliveries_per_enrollment(session)
        enrollments = min(math.ceil(args.deliveries / per * 1.03), 20 * args.customers)
        make_enrollments(session, enrollments, args.customers, dialect, stamp)
        lap("enrollments")
        make_deliveries(session, args.deliveries, dialect, stamp)
        lap("deliveries")
        make_orders_and_tasks(session, args.customers, dialect, stamp)
        lap("orders_and_tasks")
        make_placements(session, dialect, stamp)
        lap("placements")
    lap("indexes")
    if dialect == "postgresql":  # also the visibility map, as autovacuum soon sets it on a
        # live database: index-only scans must not depend on whether it has run yet
        session.commit()
        with session.get_bind().engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    else:
        session.execute(text("ANALYZE"))
        session.commit()
    lap("analyze")
    counters = build_counters(session, now)
    lap("counters")
    counts = {name: session.scalar(text(f"SELECT COUNT(*) FROM {name}"))
              for name in ("customers", "customer_tags", "enrollments", "deliveries",
                           "orders", "tasks", "journey_placements")}
    log(f"rows: {counts}")
    return {"setup_seconds": round(time.perf_counter() - started, 1), "setup_phases": times,
            "rows": counts, "counters": counters}


def build_counters(session, now: datetime) -> dict:
    """As a live database has them: the closed conversion windows decided (the tick's
    work), the counters recounted by `flask sop stats rebuild`, the triggers back."""
    if create_triggers is None:
        return {}
    from jobs.counters import decide_conversions, rebuild

    backfill_moves(session.connection())
    decided = decide_conversions(session, now, chunk=10**9)
    session.commit()
    report = rebuild(session)
    create_triggers(session.connection())
    session.commit()
    session.execute(text("ANALYZE"))
    session.commit()
    log(f"conversions decided: {decided}; counters: {report}")
    return {"decided": decided, "rebuild": report}
