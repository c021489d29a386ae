"""The raw-SQL floor: the enrollments of an SOP start written by hand, one statement each.

For every SOP, one `INSERT INTO bench_floor SELECT ...` that writes exactly the rows
the engine's first evaluation writes (target + owner scope + reachable churn status,
minus the early-end condition, same day 0, first due time and holdout), with every
name already resolved to ids: what a developer who knows the schema would write.
`bench_floor` is a scratch copy of `enrollments` with the same constraints and
indexes, so both pay the same index upkeep; it is dropped afterwards.
"""
from __future__ import annotations

import re
import time
from datetime import date, datetime

from sqlalchemy import Date, bindparam, select, text
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateIndex, CreateTable

from jobs.context import REACHABLE
from jobs.core.due import local_date
from jobs.enrollments import HOLDOUT_SPREAD, clock_of
from models import Employee, Enrollment, Segment, Sop, Tag
from models.base import UTCDateTime

SCRATCH = "bench_floor"


class Names:
    """Tag, employee and segment names resolved once, as a hand-written query would."""

    def __init__(self, session: Session):
        self.tags = dict(session.execute(select(Tag.name, Tag.id)).all())
        self.employees = [(e.id, e.userid, e.department.name if e.department else None)
                          for e in session.scalars(select(Employee))]
        self.segments = {s.key: s.filter or {} for s in session.scalars(select(Segment))}

    def tag_ids(self, names) -> str:
        return ", ".join(str(self.tags[n]) for n in sorted(names))

    def owner_ids(self, userids, departments) -> str:
        ids = [i for i, u, d in self.employees if u in userids or d in departments]
        return ", ".join(map(str, sorted(ids))) or "NULL"


def _quoted(values) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(values))


def where(cond: dict, names: Names) -> list[str]:
    """A target / early-end condition as SQL clauses over `customers c` (AND)."""
    clauses = []
    if cond.get("sources"):
        clauses.append(f"c.source IN ({_quoted(cond['sources'])})")
    if cond.get("tags_any"):
        clauses.append("c.id IN (SELECT customer_id FROM customer_tags "
                       f"WHERE tag_id IN ({names.tag_ids(cond['tags_any'])}))")
    for name in sorted(cond.get("tags_all") or ()):
        clauses.append("c.id IN (SELECT customer_id FROM customer_tags "
                       f"WHERE tag_id = {names.tags[name]})")
    if cond.get("tags_none"):
        clauses.append("c.id NOT IN (SELECT customer_id FROM customer_tags "
                       f"WHERE tag_id IN ({names.tag_ids(cond['tags_none'])}))")
    if cond.get("stages"):
        clauses.append(f"c.lifecycle_stage IN ({_quoted(cond['stages'])})")
    if cond.get("churn_status"):
        clauses.append(f"c.churn_status IN ({_quoted(cond['churn_status'])})")
    if cond.get("tiers"):
        clauses.append(f"c.tier IN ({_quoted(cond['tiers'])})")
    if cond.get("segment"):
        clauses += where(names.segments[cond["segment"]], names)
    return clauses


def entry_sql(sop: Sop, names: Names) -> str:
    """The WHERE of the SOP's entry: target, owner scope, reachable, not early-ended."""
    clauses = where(sop.target or {}, names)
    members = {m.userid for m in sop.members}
    departments = {d.name for d in sop.departments}
    if members or departments:
        clauses.append(f"c.owner_id IN ({names.owner_ids(members, departments)})")
    if not (sop.target or {}).get("churn_status"):
        clauses.append(f"c.churn_status IN ({_quoted(REACHABLE)})")
    early = where(sop.early_end_when or {}, names)
    if early:
        clauses.append("NOT (" + " AND ".join(early) + ")")
    if sop.kind == "new_customer":  # only customers added since the start
        clauses.append("c.added_at >= :since AND c.added_at <= :now")
    return " AND ".join(clauses) or "1 = 1"


def insert_sql(sop: Sop, names: Names) -> str:
    holdout = (f"(CAST(c.id AS BIGINT) * {HOLDOUT_SPREAD} + {sop.id}) % 100 "
               f"< {sop.holdout_percent}"
               if sop.holdout_percent else "1 = 0")
    return (f"INSERT INTO {SCRATCH} (sop_id, customer_id, status, round, enrolled_at, day0, "
            "next_due_at, holdout, flowed_from_id) "
            f"SELECT {sop.id}, c.id, 'active', 1, :now, :day0, :first, {holdout}, NULL "
            f"FROM customers c WHERE {entry_sql(sop, names)}")


def _create_scratch(session: Session) -> None:
    dialect = session.get_bind().dialect
    table = Enrollment.__table__
    statements = [str(CreateTable(table).compile(dialect=dialect))]
    statements += [str(CreateIndex(ix).compile(dialect=dialect)) for ix in table.indexes]
    session.execute(text(f"DROP TABLE IF EXISTS {SCRATCH}"))
    for ddl in statements:
        session.execute(text(re.sub(r"(?<![a-z])enrollments(?![a-z])", SCRATCH, ddl)))
    session.commit()


def counts(session: Session, table: str) -> dict[int, tuple[int, int, int]]:
    """Per SOP: rows, sum of customer ids, holdout rows: equal sets give equal triples."""
    rows = session.execute(text(
        f"SELECT sop_id, COUNT(*), COALESCE(SUM(customer_id), 0), "
        f"SUM(CASE WHEN holdout THEN 1 ELSE 0 END) FROM {table} GROUP BY sop_id")).all()
    return {sop_id: (int(n), int(total), int(held)) for sop_id, n, total, held in rows}


def run_floor(session: Session, sops: list[Sop], now: datetime, tz) -> dict:
    """Time the hand-written inserts (and their commit); returns seconds and row counts."""
    names = Names(session)
    _create_scratch(session)
    today: date = local_date(now, tz)
    since = now  # the SOPs start now: max(started_at, now - entry window) is now
    per_sop, started = {}, time.perf_counter()
    for sop in sops:
        first = clock_of(sop).first(today, tz)
        statement = text(insert_sql(sop, names)).bindparams(
            bindparam("now", type_=UTCDateTime), bindparam("first", type_=UTCDateTime),
            bindparam("day0", type_=Date), *(
                [bindparam("since", type_=UTCDateTime)] if sop.kind == "new_customer" else []))
        params = {"now": now, "first": first, "day0": today}
        if sop.kind == "new_customer":
            params["since"] = since
        t0 = time.perf_counter()
        session.execute(statement, params)
        per_sop[sop.key] = time.perf_counter() - t0
    session.commit()
    seconds = time.perf_counter() - started
    result = {"seconds": seconds, "per_sop": per_sop, "counts": counts(session, SCRATCH)}
    session.execute(text(f"DROP TABLE {SCRATCH}"))
    session.commit()
    return result
