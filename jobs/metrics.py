"""Prometheus metrics (SPEC §10): counted where things happen, gauged at scrape time.

Counters and histograms move in the process that does the work (the tick, the
sender, the WeCom client). Under gunicorn and RQ that is many processes, so with
`PROMETHEUS_MULTIPROC_DIR` set (before this module is imported) prometheus_client
keeps them in files in that directory and `/metrics` adds them up. The directory
must be emptied when the installation starts (deploy/demo.sh does).

What a query can answer (journal lag, deliveries by status, held deliveries,
overdue tasks, queue depth) is not counted at all: `StateCollector` asks the
database and Redis at scrape time, with indexed queries that stay cheap however
large the tables grow.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from prometheus_client import (
    CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

from jobs.core.vocab import DELIVERY_STATUSES

TICK_SECONDS = Histogram("sop_tick_duration_seconds", "Duration of a finished tick",
                         buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600))
TICK_ROUNDS = Histogram("sop_tick_rounds", "Rounds a finished tick took to settle",
                        buckets=(1, 2, 3, 4, 6, 10))
SENDS = Counter("sop_sends", "Recipients handed to a channel, by channel", ["channel"])
WECOM_ERRORS = Counter("sop_wecom_errors", "WeCom API error answers, by errcode",
                       ["errcode"])

RECENT = timedelta(hours=24)  # deliveries by status: those due in this window


def observe_tick(seconds: float, rounds: int) -> None:
    TICK_SECONDS.observe(seconds)
    TICK_ROUNDS.observe(rounds)


def count_sends(channel: str, recipients: int) -> None:
    SENDS.labels(channel=channel).inc(recipients)


def count_wecom_error(errcode) -> None:
    WECOM_ERRORS.labels(errcode=str(errcode if errcode is not None else "http")).inc()


class StateCollector:
    """Gauges computed from the database and Redis when scraped."""

    def __init__(self, session_factory, redis, clock=lambda: datetime.now(timezone.utc)):
        self.session_factory, self.redis, self.clock = session_factory, redis, clock

    def collect(self):
        from jobs.health import journal_lag, queue_depth

        now = self.clock()
        session = self.session_factory()
        lag = journal_lag(session, now)
        yield GaugeMetricFamily("sop_journal_unprocessed", "Change-journal rows not yet "
                                "processed by the tick", value=lag["unprocessed"])
        yield GaugeMetricFamily("sop_journal_oldest_age_seconds", "Age of the oldest "
                                "unprocessed change-journal row",
                                value=lag["oldest_age_seconds"] or 0)
        by_status = GaugeMetricFamily("sop_deliveries", "Deliveries due in the last 24 hours "
                                      "or later, by status", labels=["status"])
        for status, n in deliveries_by_status(session, now).items():
            by_status.add_metric([status], n)
        yield by_status
        held, overdue = held_and_overdue(session, now)
        yield GaugeMetricFamily("sop_deliveries_held", "Deliveries held: the customer has no "
                                "active owner", value=held)
        yield GaugeMetricFamily("sop_tasks_overdue", "Open tasks past their deadline",
                                value=overdue)
        session.rollback()
        depth = GaugeMetricFamily("sop_queue_depth", "Jobs waiting, by queue", labels=["queue"])
        age = GaugeMetricFamily("sop_queue_oldest_age_seconds", "Age of the oldest waiting "
                                "job, by queue", labels=["queue"])
        for name, q in queue_depth(self.redis, now).items():
            depth.add_metric([name], q["depth"])
            age.add_metric([name], q["oldest_age_seconds"] or 0)
        yield depth
        yield age


def deliveries_by_status(session, now: datetime) -> dict[str, int]:
    """One index range per status on (status, due_at): no scan of old rows."""
    from sqlalchemy import func, select

    from models import Delivery

    since = now - RECENT
    return {status: session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.status == status, Delivery.due_at >= since)) or 0
        for status in DELIVERY_STATUSES}


def held_and_overdue(session, now: datetime) -> tuple[int, int]:
    from sqlalchemy import func, select

    from zoneinfo import ZoneInfo

    from jobs.core.vocab import DEFAULT_TIMEZONE, OPEN_DELIVERY_STATUSES
    from jobs.ops_stats import overdue
    from models import Delivery, Settings, Task

    held = session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.held_since.is_not(None), Delivery.status.in_(OPEN_DELIVERY_STATUSES)))
    row = session.get(Settings, 1)  # read only: a scrape writes nothing
    tz = ZoneInfo(row.timezone if row else DEFAULT_TIMEZONE)
    late = session.scalar(select(func.count()).select_from(Task).where(overdue(now, tz)))
    return held or 0, late or 0


def exposition(session_factory, redis) -> tuple[bytes, str]:
    """The text `/metrics` answers: this process's (or every process's) counters and
    the scrape-time gauges."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
        counted = b""
    else:
        counted = generate_latest(REGISTRY)
    registry.register(StateCollector(session_factory, redis))
    return counted + generate_latest(registry), CONTENT_TYPE_LATEST
