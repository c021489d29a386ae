"""The data pages' counters (models/counters.py): reading them, recounting them from
the rows (`flask sop stats rebuild`), and deciding conversions once a window closes.

The triggers (models/counter_triggers.py) keep the counters in step with every write;
the rebuild exists for what no trigger sees (a restored backup, a hand-run UPDATE
with triggers disabled, an order back-dated into a decided window) and reports what
it had to fix, so a non-zero report is worth a look.
"""
from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta, timezone

from sqlalchemy import Interval, event, exists, func, inspect, literal, select, text, update

from models import ConversionCount, Customer, CustomerHour, DeliveryHour, Enrollment, Order, Sop
from models.counter_triggers import SOURCES, by_table, select_feed

DECIDE_CHUNK = 50_000  # enrollments decided per SOP per tick (the first tick after an upgrade)


# --- reading -----------------------------------------------------------------------------
def hour_of(moment: datetime) -> int:
    """The UTC hour number the triggers key by (epoch seconds // 3600)."""
    return int(moment.timestamp()) // 3600


def aligned(edges: list[datetime]) -> bool:
    """Edges on whole UTC hours (every whole-hour time zone's midnights): hour counters
    bucket into them exactly; otherwise the caller counts rows."""
    return all(int(e.timestamp()) % 3600 == 0 for e in edges)


def bucket_hours(rows, edges: list[datetime]) -> list[int]:
    """(hour, n) rows summed into the buckets [edges[i], edges[i+1])."""
    bounds = [hour_of(e) for e in edges]
    out = [0] * (len(edges) - 1)
    for hour, n in rows:
        i = bisect_right(bounds, hour) - 1
        if 0 <= i < len(out):
            out[i] += int(n or 0)
    return out


def hours_in(session, measure: str, edges: list[datetime], *where) -> list[int]:
    """delivery_hours of one measure per bucket of `edges`, narrowed by `where`."""
    H = DeliveryHour
    rows = session.execute(
        select(H.hour, func.sum(H.n)).where(
            H.measure == measure, H.hour >= hour_of(edges[0]), H.hour < hour_of(edges[-1]),
            *where).group_by(H.hour)).all()
    return bucket_hours(rows, edges)


def customers_per_bucket(session, edges: list[datetime]) -> list[int]:
    H = CustomerHour
    return bucket_hours(session.execute(
        select(H.hour, func.sum(H.n)).where(H.hour >= hour_of(edges[0]),
                                            H.hour < hour_of(edges[-1])).group_by(H.hour)),
        edges)


def customers_since(session, since: datetime | None = None) -> int:
    """Customers added at or after `since` (all when None): whole hours from the
    counters, the part of `since`'s hour from the rows."""
    H = CustomerHour
    if since is None:
        return int(session.scalar(select(func.coalesce(func.sum(H.n), 0))))
    start = hour_of(since) + 1
    whole = session.scalar(select(func.coalesce(func.sum(H.n), 0)).where(H.hour >= start))
    part = session.scalar(select(func.count(Customer.id)).where(
        Customer.added_at >= since,
        Customer.added_at < datetime.fromtimestamp(start * 3600, timezone.utc)))
    return int(whole) + int(part)


def decided_conversions(session, sop_id: int):
    """(hour entered, holdout, converted, n) of the SOP's decided enrollments."""
    C = ConversionCount
    return session.execute(
        select(C.hour, C.holdout, C.converted, func.sum(C.n)).where(C.sop_id == sop_id)
        .group_by(C.hour, C.holdout, C.converted)).all()


# --- deciding conversions -------------------------------------------------------------------
def plus_days(session, column, days: int) -> ColumnElement:
    """`column` + `days` days, in the database (SQLite keeps datetimes as text)."""
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:%M:%f", column, f"+{int(days)} days")
    return column + literal(timedelta(days=days), Interval())


def ordered_within(session, days: int):
    """An order by the enrollment's customer in [enrolled_at, enrolled_at + days)."""
    return exists().where(
        Order.customer_id == Enrollment.customer_id, Order.placed_at >= Enrollment.enrolled_at,
        Order.placed_at < plus_days(session, Enrollment.enrolled_at, days))


def decide_conversions(session, now: datetime, chunk: int = DECIDE_CHUNK) -> int:
    """Set `converted` on enrollments whose conversion window closed (the tick): from
    then on the data page counts them from conversion_counts, not order by order."""
    decided = 0
    for sop_id, days in session.execute(select(Sop.id, Sop.conversion_days)).all():
        due = (select(Enrollment.id).where(
            Enrollment.sop_id == sop_id, Enrollment.converted.is_(None),
            Enrollment.enrolled_at <= now - timedelta(days=days)).limit(chunk))
        decided += session.execute(
            update(Enrollment).where(Enrollment.id.in_(due.scalar_subquery()))
            .values(converted=ordered_within(session, days))
            .execution_options(synchronize_session=False)).rowcount or 0
    return decided


# --- the recount ------------------------------------------------------------------------
def recount_sql(source, feeds, dialect: str, sop_scoped: bool) -> str:
    keys = list(feeds[0].columns)
    parts = []
    for feed in feeds:
        if sop_scoped and feed.columns.get("sop_id", "0") == "0":
            continue  # a global figure (no SOP in its key): not one SOP's to rebuild
        sql = select_feed(feed, source.table, 1, f"FROM {source.table}", dialect)
        parts.append(sql + (f" AND {source.table}.sop_id = :sop" if sop_scoped else ""))
    if not parts:
        return ""
    k = ", ".join(keys)
    return f"SELECT {k}, SUM(d) AS n FROM ({' UNION ALL '.join(parts)}) AS x GROUP BY {k}"


def rebuild_all_sql(dialect: str) -> list[str]:
    """Fill every (empty) counter table from the rows: the migration, the benchmark."""
    out = []
    for source in SOURCES:
        for table, feeds in by_table(source.feeds).items():
            k = ", ".join(feeds[0].columns)
            out.append(f"INSERT INTO {table} ({k}, shard, n) SELECT {k}, 0, n FROM "
                       f"({recount_sql(source, feeds, dialect, False)}) AS r WHERE n <> 0")
    return out


def compare(session, table: str, keys: list[str], recount: str, scope: str = "",
            params=None) -> tuple[int, int]:
    """(keys recounted, keys whose stored sum differs from the recount)."""
    k = ", ".join(keys)
    stored = {tuple(r[:-1]): r[-1] for r in session.execute(text(
        f"SELECT {k}, SUM(n) FROM {table}{scope} GROUP BY {k}"), params or {}) if r[-1]}
    counted = {tuple(r[:-1]): r[-1] for r in session.execute(text(recount), params or {})
               if r[-1]}
    return len(counted), sum(1 for key in stored.keys() | counted.keys()
                             if stored.get(key) != counted.get(key))


def rebuild(session, sop: Sop | None = None) -> dict[str, dict[str, int]]:
    """Recount every counter table (or one SOP's rows of those keyed by SOP) from the
    source rows, replace what differs; returns per table the keys counted and fixed.
    Idempotent: a second run fixes nothing."""
    dialect = session.get_bind().dialect.name
    params = {"sop": sop.id} if sop else {}
    scope = " WHERE sop_id = :sop" if sop else ""
    report = {}
    for source in SOURCES:
        for table, feeds in by_table(source.feeds).items():
            keys = list(feeds[0].columns)
            recount = ("sop_id" in keys or not sop) and recount_sql(
                source, feeds, dialect, sop is not None)
            if not recount:
                continue
            if dialect == "postgresql":  # writers wait until the recount is in
                session.execute(text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))
            counted, fixed = compare(session, table, keys, recount, scope, params)
            if fixed:
                k = ", ".join(keys)
                session.execute(text(f"DELETE FROM {table}{scope}"), params)
                session.execute(text(f"INSERT INTO {table} ({k}, shard, n) "
                                     f"SELECT {k}, 0, n FROM ({recount}) AS r"), params)
            report[table] = {"keys": counted, "fixed": fixed}
    session.commit()
    return report


def counters_match(session) -> dict[str, int]:
    """Per counter table, the keys that differ from a recount (tests, checks)."""
    dialect = session.get_bind().dialect.name
    return {table: compare(session, table, list(feeds[0].columns),
                           recount_sql(source, feeds, dialect, False))[1]
            for source in SOURCES for table, feeds in by_table(source.feeds).items()}


@event.listens_for(Sop, "after_update")
def _conversion_window_changed(mapper, connection, sop) -> None:
    """A new conversion_days: the decisions made with the old window no longer hold."""
    if inspect(sop).attrs.conversion_days.history.deleted:
        connection.execute(update(Enrollment).where(
            Enrollment.sop_id == sop.id, Enrollment.converted.is_not(None))
            .values(converted=None))
