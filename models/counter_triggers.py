"""The triggers that keep models/counters.py in the same transaction as every change
to the rows they count, whichever code path writes (the sender, the planner, the
materializer, reconcile, the admin, a cascade): a change can not forget them.

A *feed* maps one source row to one counter key. A trigger adds +1 for the key of each
new row and -1 for the key of each old row, grouped, and upserts the non-zero sums.
SQLite runs it per row (one writer: no contention). PostgreSQL runs the big writes
(deliveries, bulk inserts) once per statement over its transition tables, so a batch of
200 sends is one grouped upsert, into a shard of its own backend; updates of single
columns that rarely move a counter stay per row with a column list and WHEN.

The same feeds give the recount (`flask sop stats rebuild`, jobs/counters.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import event

PG_SHARDS = 8
BULK_ROWS = 5000  # new placements above which a statement is planned as a bulk load


@dataclass(frozen=True)
class Feed:
    table: str  # the counter table
    columns: dict[str, str]  # key column -> SQL over the source row `{r}`
    where: str = "1 = 1"


HOLDOUT = "CASE WHEN {r}.reason = 'holdout' THEN 1 ELSE 0 END"


def _time_feed(measure: str, column: str, sop: str, by_status: bool) -> Feed:
    return Feed("delivery_hours", {
        "measure": f"'{measure}'", "hour": f"@H({{r}}.{column})", "sop_id": sop,
        "action": "{r}.action", "status": "{r}.status" if by_status else "''",
        "holdout": HOLDOUT if by_status else "0"}, f"{{r}}.{column} IS NOT NULL")


@dataclass(frozen=True)
class Source:
    table: str
    feeds: list[Feed]
    watched: tuple[str, ...]  # columns whose update can move a counter
    pg_row_events: tuple[str, ...] = ()  # events run per row on PostgreSQL
    events: tuple[str, ...] = ("INSERT", "UPDATE", "DELETE")
    row_when: dict = field(default_factory=dict)  # event -> a condition on NEW / OLD


SOURCES = (
    Source("deliveries", [
        Feed("delivery_counts", {
            "sop_id": "COALESCE({r}.sop_id, 0)", "journey_id": "COALESCE({r}.journey_id, 0)",
            "position": "{r}.position", "action": "{r}.action", "status": "{r}.status",
            "holdout": HOLDOUT, "held": "CASE WHEN {r}.held_since IS NULL THEN 0 ELSE 1 END",
            "sender_id": "COALESCE({r}.sender_id, 0)"}),
        _time_feed("due", "due_at", "0", True),
        _time_feed("queued", "queued_at", "COALESCE({r}.sop_id, 0)", False),
        _time_feed("sent", "sent_at", "COALESCE({r}.sop_id, 0)", False),
        _time_feed("first_due", "first_due_at", "0", False),
    ], ("sop_id", "journey_id", "position", "action", "status", "reason", "held_since",
        "sender_id", "due_at", "queued_at", "sent_at", "first_due_at")),
    Source("customers", [Feed("customer_hours", {"hour": "@H({r}.added_at)"},
                              "{r}.added_at IS NOT NULL")],
           ("added_at",), pg_row_events=("UPDATE",)),
    Source("journey_placements", [
        Feed("placement_hours", {"journey_id": "{r}.journey_id", "stage_id": "{r}.stage_id",
                                 "measure": "'entered'", "hour": "@H({r}.entered_at)"}),
        Feed("placement_hours", {"journey_id": "{r}.journey_id", "stage_id": "{r}.stage_id",
                                 "measure": "'left'", "hour": "@H({r}.left_at)"},
             "{r}.left_at IS NOT NULL"),
        Feed("placement_moves", {"journey_id": "{r}.journey_id",
                                 "from_stage": "COALESCE({r}.came_from_stage_id, 0)",
                                 "to_stage": "{r}.stage_id", "hour": "@H({r}.entered_at)"}),
        Feed("placement_moves", {"journey_id": "{r}.journey_id", "from_stage": "{r}.stage_id",
                                 "to_stage": "0", "hour": "@H({r}.left_at)"},
             "{r}.left_at IS NOT NULL AND NOT {r}.moved_on"),
    ], ("journey_id", "stage_id", "entered_at", "left_at", "came_from_stage_id", "moved_on"),
        pg_row_events=("UPDATE",)),
    Source("enrollments", [Feed("conversion_counts", {
        "sop_id": "{r}.sop_id", "hour": "@H({r}.enrolled_at)",
        "holdout": "CASE WHEN {r}.holdout THEN 1 ELSE 0 END",
        "converted": "CASE WHEN {r}.converted THEN 1 ELSE 0 END"}, "{r}.converted IS NOT NULL")],
        ("sop_id", "enrolled_at", "holdout", "converted"), pg_row_events=("INSERT", "UPDATE"),
        # the engine writes and updates enrollments by the hundred thousand; only a
        # decided conversion is counted, so only rows with one wake the trigger
        row_when={"INSERT": "NEW.converted IS NOT NULL",
                  "UPDATE": "NEW.converted IS NOT NULL OR OLD.converted IS NOT NULL"}),
)


def hours(sql: str, dialect: str) -> str:
    """@H(x): the UTC hour number of timestamp x (stored naive UTC on both databases)."""
    pattern = r"@H\(([^()]*)\)"
    if dialect == "sqlite":
        return re.sub(pattern, r"(CAST(strftime('%s', \1) AS INTEGER) / 3600)", sql)
    return re.sub(pattern, r"CAST(floor(extract(epoch FROM \1) / 3600) AS INTEGER)", sql)


def select_feed(feed: Feed, alias: str, sign: int, from_: str, dialect: str) -> str:
    cols = ", ".join(f"{expr} AS {name}" for name, expr in feed.columns.items())
    sql = f"SELECT {cols}, {sign} AS d {from_} WHERE {feed.where}"
    return hours(sql.replace("{r}", alias), dialect)


def upsert(table: str, keys: list[str], rows_sql: str, shard: str) -> str:
    """Add the grouped sums of `rows_sql` (key columns + d) to the counter table."""
    k = ", ".join(keys)
    return (f"INSERT INTO {table} ({k}, shard, n) SELECT {k}, {shard}, SUM(d) "
            f"FROM ({rows_sql}) AS x WHERE 1 = 1 GROUP BY {k} HAVING SUM(d) <> 0 "
            f"ORDER BY {k} "  # one lock order: concurrent writers can not deadlock
            f"ON CONFLICT ({k}, shard) DO UPDATE SET n = {table}.n + excluded.n")


def by_table(feeds: list[Feed]) -> dict[str, list[Feed]]:
    out: dict[str, list[Feed]] = {}
    for feed in feeds:
        out.setdefault(feed.table, []).append(feed)
    return out


PREVIOUS = ("SELECT q.stage_id FROM journey_placements q WHERE q.journey_id = {p}.journey_id"
            " AND q.customer_id = {p}.customer_id AND q.id < {p}.id ORDER BY q.id DESC LIMIT 1")


def link_placements(per_row: bool) -> list[str]:
    """A new placement: note the stage it came from, and that the customer's earlier
    placements moved on (their UPDATE triggers move the counters)."""
    if per_row:
        prev = PREVIOUS.format(p="NEW")
        return [f"UPDATE journey_placements SET came_from_stage_id = ({prev}) "
                f"WHERE id = NEW.id AND EXISTS ({prev})",
                "UPDATE journey_placements SET moved_on = true WHERE journey_id = NEW.journey_id"
                " AND customer_id = NEW.customer_id AND id < NEW.id AND NOT moved_on"]
    # Driven from new_rows into the customer's placements by index. PL/pgSQL plans a
    # statement without parameters once per connection, for the size of new_rows the
    # first time: a worker whose first insert was a journey sync (half a million rows,
    # a hash join over every placement) kept that plan for the tick's few hundred
    # (600 ms a statement at 1.6 M placements). Two copies, one per size, each keep
    # the plan for their own.
    prev = PREVIOUS.format(p="p")
    link = (f"UPDATE journey_placements AS p SET came_from_stage_id = ({prev}) "
            f"FROM new_rows n WHERE p.id = n.id AND EXISTS ({prev}); "
            "UPDATE journey_placements AS p SET moved_on = true FROM new_rows n "
            "WHERE p.customer_id = n.customer_id AND p.journey_id = n.journey_id "
            "AND p.id < n.id AND NOT p.moved_on")
    return [f"IF (SELECT count(*) FROM new_rows) > {BULK_ROWS} THEN {link}; "
            f"ELSE {link}; END IF"]


def backfill_moves(connection) -> None:
    """came_from_stage_id and moved_on of rows written without the trigger (the
    migration, the benchmark's set-based load)."""
    prev = PREVIOUS.format(p="journey_placements")
    connection.exec_driver_sql(
        f"UPDATE journey_placements SET came_from_stage_id = ({prev}) WHERE EXISTS ({prev})")
    connection.exec_driver_sql(
        "UPDATE journey_placements SET moved_on = true WHERE EXISTS (SELECT 1 FROM "
        "journey_placements q WHERE q.journey_id = journey_placements.journey_id AND "
        "q.customer_id = journey_placements.customer_id AND q.id > journey_placements.id)")


def body(source: Source, event_: str, dialect: str, per_row: bool) -> list[str]:
    """The statements of one trigger: sources NEW (+1) and/or OLD (-1)."""
    sides = {"INSERT": [("NEW", 1)], "DELETE": [("OLD", -1)],
             "UPDATE": [("OLD", -1), ("NEW", 1)]}[event_]
    shard = "0" if dialect == "sqlite" else f"mod(pg_backend_pid(), {PG_SHARDS})"
    statements = []
    for table, feeds in by_table(source.feeds).items():
        parts = []
        for name, sign in sides:
            alias, from_ = (name, "") if per_row else (
                f"{name.lower()}_r", f"FROM {name.lower()}_rows AS {name.lower()}_r")
            parts += [select_feed(f, alias, sign, from_, dialect) for f in feeds]
        statements.append(upsert(table, list(feeds[0].columns), " UNION ALL ".join(parts),
                                 shard))
    if source.table == "journey_placements" and event_ == "INSERT":
        statements += link_placements(per_row)
    return statements


def trigger_name(source: Source, event_: str) -> str:
    return f"cnt_{source.table}_{event_.lower()}"


def create_sql(dialect: str) -> list[str]:
    out = []
    for source in SOURCES:
        for event_ in source.events:
            name = trigger_name(source, event_)
            what = (f"UPDATE OF {', '.join(source.watched)}" if event_ == "UPDATE"
                    else event_)
            when = source.row_when.get(event_)
            if dialect == "sqlite":
                cond = f" WHEN {when}" if when else ""
                out.append(f"CREATE TRIGGER {name} AFTER {what} ON {source.table} "
                           f"FOR EACH ROW{cond} BEGIN "
                           + "; ".join(body(source, event_, dialect, True)) + "; END")
                continue
            per_row = event_ in source.pg_row_events
            out.append(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                       "BEGIN " + "; ".join(body(source, event_, dialect, per_row))
                       + "; RETURN NULL; END $$")
            if per_row:
                cond = f" WHEN ({when})" if when else ""
                out.append(f"CREATE TRIGGER {name} AFTER {what} ON {source.table} "
                           f"FOR EACH ROW{cond} EXECUTE FUNCTION {name}()")
            else:
                ref = {"INSERT": "NEW TABLE AS new_rows", "DELETE": "OLD TABLE AS old_rows",
                       "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows"}[event_]
                out.append(f"CREATE TRIGGER {name} AFTER {event_} ON {source.table} "
                           f"REFERENCING {ref} FOR EACH STATEMENT EXECUTE FUNCTION {name}()")
    return out


def drop_sql(dialect: str) -> list[str]:
    out = []
    for source in SOURCES:
        for event_ in source.events:
            name = trigger_name(source, event_)
            if dialect == "sqlite":
                out.append(f"DROP TRIGGER IF EXISTS {name}")
            else:
                out.append(f"DROP TRIGGER IF EXISTS {name} ON {source.table}")
                out.append(f"DROP FUNCTION IF EXISTS {name}()")
    return out


def create_triggers(connection) -> None:
    """(Re)create them all: idempotent."""
    for statement in drop_sql(connection.dialect.name) + create_sql(connection.dialect.name):
        connection.exec_driver_sql(statement)


def drop_triggers(connection) -> None:
    for statement in drop_sql(connection.dialect.name):
        connection.exec_driver_sql(statement)


def install(metadata) -> None:
    """create_all / drop_all make and remove the triggers with the tables."""
    event.listen(metadata, "after_create", lambda target, conn, **kw: create_triggers(conn))
    event.listen(metadata, "before_drop", lambda target, conn, **kw: drop_triggers(conn))
