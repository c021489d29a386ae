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

from sqlalchemy import bindparam, event, func, select, text

from bench.evaluator import bench_app, database_args, log, machine, rss_mb
from bench.pages_data import set_up
from models.base import UTCDateTime

GOAL_P95_MS = 300.0

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
    from models import Customer, Delivery, Journey, JourneyPlacement, Sop

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
    journey = session.scalar(select(Journey).order_by(Journey.id).limit(1))
    placements = session.scalar(select(func.count()).select_from(JourneyPlacement)
                                .where(JourneyPlacement.journey_id == journey.id))
    month_ago, fortnight = now - timedelta(days=30), timedelta(days=14)
    return [
        {"page": f"journey data page ({journey.key}, {placements:,} placements)",
         "user": "admin", "url": f"/admin/journey_data/{journey.id}/",
         "baseline": "customers per stage now, and placements entered in 30 days per stage",
         "bare": [bare(session, "SELECT stage_id, COUNT(*) FROM journey_placements WHERE "
                       "journey_id = :j AND left_at IS NULL GROUP BY stage_id", j=journey.id),
                  bare(session, "SELECT stage_id, COUNT(*) FROM journey_placements WHERE "
                       "journey_id = :j AND entered_at >= :t GROUP BY stage_id",
                       j=journey.id, t=month_ago)]},
        {"page": "quota calendar", "user": "admin", "url": "/admin/quota_calendar/",
         "baseline": "messages and reminders due, queued, first due in the 29 days",
         "bare": [bare(session, f"SELECT COUNT(*) FROM deliveries WHERE action IN "
                       f"('message', 'reminder') AND {column} >= :a AND {column} < :b",
                       a=now - fortnight, b=now + fortnight)
                  for column in ("due_at", "queued_at", "first_due_at")]},
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
