"""Data pages benchmark: the SOP data page, the customer list (first page, filtered
pages, a manager's rows) and the dashboard on N customers and M deliveries.

    python -m bench.pages --db sqlite|postgresql [--customers 1000000] [--deliveries 5000000]

Set-up, set-based (no row passes through Python): the evaluator benchmark's world
(bench/scenario.py: 40 employees, 14 tags on realistic shares, 20 SOPs of 2-6 steps,
3 journeys) with N synthetic customers (seed/synthetic.py), the SOPs running;
enrollments (customer i in SOP (hash(i) + 7k) % 20 for its k-th one, entered within
the last 90 days, 10 % holdout where the SOP has one) until M deliveries fit; the
deliveries of every step whose day has come, statuses by a hash (sent, queued,
failed, skipped, expired, cancelled, deferred, pending; the holdout's skipped), due,
queued and sent times around the real clock (the pages read `now`); N / 10 orders and
N / 20 tasks; the indexes of the big tables built after their rows; ANALYZE (VACUUM
ANALYZE on PostgreSQL).

Then, per page, one cold request and `--requests` timed ones through the Flask test
client (signed in as an admin, and as a manager for the row-filtered list), each in
its own app context as a server would run it; in the same run, `--requests` times
each, the bare SELECT the page needs (the baseline: the funnel aggregate, the list's
page query, the dashboard's counts) and every statement the page sent, replayed on
a raw DBAPI connection (the page's SQL without Flask, the ORM or the template).
Goal (issue 6): p95 <= 300 ms per page. Prints JSON and a markdown table; writes
the JSON under --workdir. Results: BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, event, func, select, text, update

from bench.evaluator import bench_app, database_args, log, machine, rss_mb
from models.base import UTCDateTime
from seed.synthetic import _now

GOAL_P95_MS = 300.0
WINDOW_DAYS = 90  # enrollments, orders: within the last 90 days
HASH = "2654435761"  # Knuth's multiplicative hash, as seed/synthetic.py
BIG_TABLES = ("customers", "customer_tags", "enrollments", "deliveries", "orders", "tasks")


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
    from seed.config_io import import_document

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
    counts = {name: session.scalar(text(f"SELECT COUNT(*) FROM {name}"))
              for name in ("customers", "customer_tags", "enrollments", "deliveries",
                           "orders", "tasks")}
    log(f"rows: {counts}")
    return {"setup_seconds": round(time.perf_counter() - started, 1), "setup_phases": times,
            "rows": counts}


# --- measuring ---------------------------------------------------------------------
def summary(samples: list[float]) -> dict:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[max(0, math.ceil(0.95 * len(ms)) - 1)]  # nearest rank
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(p95, 1),
            "max_ms": round(ms[-1], 1), "mean_ms": round(statistics.fmean(ms), 1)}


class Browser:
    """Test clients signed in as the bench users. Requests run on one worker thread
    with no context of its own, so each gets a fresh app context and session, as
    under a server (the bench's own app context would otherwise be reused)."""

    def __init__(self, app):
        self.app, self.pool, self.clients = app, ThreadPoolExecutor(1), {}

    def run(self, fn, *args):
        return self.pool.submit(fn, *args).result()

    def client(self, username: str):
        if username not in self.clients:
            from tests.conftest import login

            client = self.app.test_client()
            self.run(login, client, username)
            self.clients[username] = client
        return self.clients[username]

    def get(self, username: str, url: str) -> float:
        client = self.client(username)

        def fetch():
            started = time.perf_counter()
            response = client.get(url)
            body = response.get_data()
            seconds = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"GET {url} as {username}: {response.status_code}\n"
                                 f"{body[:2000].decode(errors='replace')}")
            return seconds

        return self.run(fetch)


@contextmanager
def captured(engine):
    """The (statement, parameters) of every SELECT sent while inside."""
    statements: list[tuple[str, object]] = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")) and not executemany:
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def replay(engine, statements, repeat: int) -> list[float]:
    """The statements on one raw DBAPI connection, rows fetched; seconds per round."""
    raw = engine.raw_connection()
    try:
        cursor, rounds = raw.cursor(), []
        for _ in range(repeat):
            started = time.perf_counter()
            for statement, parameters in statements:
                cursor.execute(statement, parameters)
                cursor.fetchall()
            rounds.append(time.perf_counter() - started)
        raw.rollback()
        return rounds
    finally:
        raw.close()


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def bare(session, sql: str, **params):
    """One bare SELECT (all rows fetched) as a callable."""
    statement = text(sql).bindparams(*[bindparam(k, type_=UTCDateTime) for k, v
                                       in params.items() if isinstance(v, datetime)])
    return lambda: session.execute(statement, params).all()


def pages(session, browser) -> list[dict]:
    """The pages measured: name, user, URL, and the bare SELECTs each needs."""
    from admin_views.home import list_url
    from models import Customer, Delivery, Sop

    biggest = session.execute(select(Delivery.sop_id, func.count()).group_by(Delivery.sop_id)
                              .order_by(func.count().desc()).limit(1)).one()
    sop = session.get(Sop, biggest[0])
    with browser.app.test_request_context():
        by_tag = list_url("customers", (Customer.id, "VIP"))
        by_source = list_url("customers", (Customer.source, "行业展会"))
    now = datetime.now(UTC)
    week_ago, today = now - timedelta(days=7), now.replace(hour=0, minute=0, second=0)
    first = "SELECT * FROM customers {where} ORDER BY added_at DESC LIMIT 21"
    tagged = ("WHERE EXISTS (SELECT 1 FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id "
              "WHERE ct.customer_id = customers.id AND t.name = :tag)")
    counts = [
        bare(session, "SELECT COUNT(*) FROM customers"),
        bare(session, "SELECT COUNT(*) FROM customers WHERE added_at >= :t", t=week_ago),
        bare(session, "SELECT COUNT(*) FROM deliveries WHERE action IN ('message', 'reminder')"
             " AND queued_at >= :t", t=today),
        bare(session, "SELECT COUNT(*) FROM deliveries WHERE action IN ('message', 'reminder')"
             " AND status = 'deferred'"),
        bare(session, "SELECT COUNT(*) FROM deliveries WHERE action IN ('message', 'reminder')"
             " AND status = 'failed' AND due_at >= :t", t=week_ago),
        bare(session, "SELECT COUNT(*) FROM deliveries WHERE action IN ('message', 'reminder')"
             " AND held_since IS NOT NULL AND status IN ('pending', 'deferred')"),
        bare(session, "SELECT COUNT(*) FROM tasks WHERE status = 'open' AND due_at < :t",
             t=today),
    ]
    return [
        {"page": f"SOP data page ({sop.key}, {biggest[1]:,} deliveries)", "user": "admin",
         "url": f"/admin/sop_data/{sop.id}/",
         "baseline": "funnel: deliveries GROUP BY position, status for the SOP",
         "bare": [bare(session, "SELECT position, status, COUNT(*) FROM deliveries "
                       "WHERE sop_id = :sop GROUP BY position, status", sop=sop.id)]},
        {"page": "customer list, first page", "user": "admin", "url": "/admin/customers/",
         "baseline": "the page's 20 rows, newest first (the list runs no count)",
         "bare": [bare(session, first.format(where=""))]},
        {"page": "customer list, tag VIP (8 %)", "user": "admin", "url": by_tag,
         "baseline": "the page's 20 rows with the tag, newest first",
         "bare": [bare(session, first.format(where=tagged), tag="VIP")]},
        {"page": "customer list, source 行业展会 (20 %)", "user": "admin", "url": by_source,
         "baseline": "the page's 20 rows of the source, newest first",
         "bare": [bare(session, first.format(where="WHERE source = :s"), s="行业展会")]},
        {"page": "customer list, first page as a manager (30 % of rows)", "user": "manager",
         "url": "/admin/customers/",
         "baseline": "the page's 20 rows owned in the department, newest first",
         "bare": [bare(session, first.format(
             where="WHERE owner_id IN (SELECT e.id FROM employees e JOIN departments d "
                   "ON d.id = e.department_id WHERE d.name = :d)"), d="华东销售")]},
        {"page": "dashboard (/admin/)", "user": "admin", "url": "/admin/",
         "baseline": "its 7 counts (customers, new this week, 4 delivery cards, overdue tasks)",
         "bare": counts},
    ]


def measure(session, app, requests: int) -> list[dict]:
    from jobs.queues import redis_connection
    from models import db

    redis_connection(app)  # the embedded Redis the home page asks: started before timing
    browser, out = Browser(app), []
    for page in pages(session, browser):
        name, user, url = page["page"], page["user"], page["url"]
        cold = browser.get(user, url)
        with captured(db.engine) as statements:
            browser.get(user, url)
        warm = [browser.get(user, url) for _ in range(requests)]
        baseline = timed(lambda: [q() for q in page["bare"]], requests)
        session.rollback()
        sql = replay(db.engine, statements, requests)
        row = {"page": name, "user": user, "url": url, "cold_ms": round(cold * 1000, 1),
               "page_ms": summary(warm), "baseline": page["baseline"],
               "baseline_ms": summary(baseline), "statements": len(statements),
               "page_sql_ms": summary(sql)}
        row["ratio_p50"] = round(row["page_ms"]["p50_ms"] / row["baseline_ms"]["p50_ms"], 1)
        row["goal_met"] = row["page_ms"]["p95_ms"] <= GOAL_P95_MS
        log(f"{name}: cold {row['cold_ms']} ms, p50 {row['page_ms']['p50_ms']} ms, "
            f"p95 {row['page_ms']['p95_ms']} ms; bare {row['baseline_ms']['p50_ms']} ms; "
            f"page SQL {row['page_sql_ms']['p50_ms']} ms ({len(statements)} statements)")
        out.append(row)
    browser.pool.shutdown()
    return out


def markdown(r: dict) -> str:
    rows = r["rows"]
    lines = [f"{r['db']}, {rows['customers']:,} customers, {rows['deliveries']:,} deliveries, "
             f"{rows['enrollments']:,} enrollments; set-up {r['setup_seconds']:.0f} s; "
             f"{r['requests']} requests per page", "",
             "| page | cold | p50 | p95 | max | bare SELECT p50 | ratio p50 | page's SQL "
             "replayed p50 | goal p95 ≤ 300 ms |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for p in r["pages"]:
        page, base, sql = p["page_ms"], p["baseline_ms"], p["page_sql_ms"]
        lines.append(
            f"| {p['page']} | {p['cold_ms']:.0f} ms | {page['p50_ms']:.0f} ms | "
            f"{page['p95_ms']:.0f} ms | {page['max_ms']:.0f} ms | {base['p50_ms']:.1f} ms | "
            f"{p['ratio_p50']:.1f} × | {sql['p50_ms']:.0f} ms ({p['statements']}) | "
            f"{'met' if p['goal_met'] else 'MISSED'} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    database_args(parser, "/tmp/bench-pages")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--deliveries", type=int, default=5_000_000)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args(argv)
    now = datetime.now(UTC).replace(microsecond=0)
    with bench_app(args, args.customers) as (app, session, _url):
        result = {"db": session.get_bind().dialect.name, "customers": args.customers,
                  "deliveries": args.deliveries, "requests": args.requests,
                  "machine": machine(session)}
        result.update(set_up(session, args, now))
        result["pages"] = measure(session, app, args.requests)
        result["peak_rss_mb"] = round(rss_mb(), 1)
        result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    out = args.workdir / f"pages-{args.db}-{args.customers}-{args.deliveries}.json"
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(json.dumps(result, indent=1, ensure_ascii=False))
    print()
    print(markdown(result))
    print(f"\n(JSON written to {out})")
    return 0 if all(p["goal_met"] for p in result["pages"]) else 1


if __name__ == "__main__":
    sys.exit(main())
