"""Synthetic customers for benchmarks: N rows with set-based `INSERT ... SELECT`.

Rows are generated inside the database from a recursive number sequence (works
on SQLite and PostgreSQL), in chunks that each commit, so a million customers
never pass through Python. Attributes come from a multiplicative hash of the
row number: deterministic, spread evenly, no random state; the tier follows the
annual value and the thresholds in Settings.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from jobs.core.vocab import DEFAULT_LIFECYCLE_STAGES
from models import Customer, Employee, Settings, Tag
from models.audit import audit_bulk
from models.base import utcnow

SOURCES = ("线上广告", "行业展会", "渠道活码", "老客推荐", "官网")
WINDOW_SECONDS = 90 * 24 * 3600  # customers were added within the last 90 days


def _case(expr: str, names: Sequence[str], prefix: str) -> tuple[str, dict]:
    """SQL `CASE expr % len WHEN i THEN :prefix_i ...` over bound values."""
    whens = " ".join(f"WHEN {i} THEN :{prefix}{i}" for i in range(len(names)))
    return (f"CASE ({expr}) % {len(names)} {whens} END",
            {f"{prefix}{i}": v for i, v in enumerate(names)})


def _now(dialect: str) -> str:
    """`:now` (naive UTC, whole seconds) as each database stores a timestamp."""
    return "CAST(:now AS TIMESTAMP)" if dialect == "postgresql" else "(:now || '.000000')"


def _minus_seconds(dialect: str, seconds: str) -> str:
    if dialect == "postgresql":
        return f"(CAST(:now AS TIMESTAMP) - ({seconds}) * INTERVAL '1 second')"
    # SQLAlchemy keeps SQLite timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' text
    return f"(datetime(:now, '-' || ({seconds}) || ' seconds') || '.000000')"


def _insert_sql(dialect: str, owner_ids: list[int], stages: Sequence[str]) -> tuple[str, dict]:
    """One chunk: numbers :lo..:hi-1 -> a hash `h` each -> a customer row each."""
    owner, owner_params = _case("h / 7", owner_ids, "o")
    source, source_params = _case("h / 3", SOURCES, "s")
    stage, stage_params = _case("h / 11", stages, "st")
    added = _minus_seconds(dialect, f"h % {WINDOW_SECONDS}")
    sql = f"""
        WITH RECURSIVE seq(n) AS (
            SELECT CAST(:lo AS BIGINT) UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < :hi),
        hashed AS (  -- Knuth's multiplicative hash: spread evenly, deterministic
            SELECT n, (n * 2654435761) % 4294967296 AS h FROM seq),
        valued AS (  -- about 5 % high, 20 % potential, 75 % normal annual value
            SELECT n, h, CASE WHEN (h / 17) % 100 < 5 THEN :high + ((h / 23) % 2000) * 1000
                              WHEN (h / 17) % 100 < 25 THEN :potential + (h / 23) % :potential_span
                              ELSE (h / 23) % :normal_span END AS value
            FROM hashed)
        INSERT INTO customers (external_id, name, customer_type, source, owner_id, added_at,
            lifecycle_stage, churn_status, annual_value, tier, review_status,
            created_at, updated_at)
        SELECT :prefix || '-' || CAST(n AS TEXT), '客户' || CAST(n AS TEXT),
            CASE WHEN (h / 19) % 3 = 0 THEN 'enterprise' ELSE 'individual' END,
            {source}, {owner}, {added}, {stage},
            CASE WHEN (h / 13) % 100 < 5 THEN 'lost' ELSE 'normal' END,
            value,
            CASE WHEN value >= :high THEN 'high' WHEN value >= :potential THEN 'potential'
                 ELSE 'normal' END,
            'activated', {_now(dialect)}, {_now(dialect)}
        FROM valued"""
    return sql, {**owner_params, **source_params, **stage_params}


def make_customers(session: Session, count: int, *, prefix: str = "syn",
                   now: datetime | None = None, tags: Sequence[str] = (),
                   chunk: int = 100_000) -> int:
    """Make sure `count` customers `PREFIX-0` .. `PREFIX-<count-1>` exist.

    Owners are spread over the active employees; with `tags`, each new customer also
    gets one of them (spread evenly). Returns how many customers were inserted (0 when
    they all exist). Commits after each chunk, so an interrupted run resumes.
    """
    if count < 0 or chunk < 1:
        raise ValueError("count must be ≥ 0 and chunk ≥ 1")
    owner_ids = list(session.scalars(select(Employee.id).where(Employee.active)
                                     .order_by(Employee.id)))
    if not owner_ids:
        raise ValueError("no active employees to own the customers (run `flask seed demo`)")
    tag_ids = [session.scalar(select(Tag.id).where(Tag.name == name)) for name in tags]
    if None in tag_ids:
        raise ValueError(f"unknown tags: {[n for n, t in zip(tags, tag_ids) if t is None]}")
    settings = Settings.get(session)
    stages = list(settings.lifecycle_stages or DEFAULT_LIFECYCLE_STAGES)
    dialect = session.get_bind().dialect.name
    sql, params = _insert_sql(dialect, owner_ids, stages)
    high, potential = settings.tier_high_threshold, settings.tier_potential_threshold
    params.update(high=high, potential=potential,
                  potential_span=max(high - potential, 1), normal_span=max(potential, 1))
    stamp = (now or utcnow()).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    existing = session.scalar(select(func.count()).select_from(Customer)
                              .where(Customer.external_id.like(f"{prefix}-%")))
    made = 0
    for lo in range(existing, count, chunk):
        hi = min(lo + chunk, count)
        before = session.scalar(select(func.coalesce(func.max(Customer.id), 0)))
        session.execute(text(sql), {**params, "now": stamp, "lo": lo, "hi": hi,
                                    "prefix": prefix})
        if tag_ids:
            tag_case, tag_params = _case("id", tag_ids, "t")
            session.execute(text(f"""
                INSERT INTO customer_tags (customer_id, tag_id, added_at, source)
                SELECT id, {tag_case}, added_at, 'import' FROM customers
                WHERE id > :before AND external_id LIKE :pattern"""),
                {**tag_params, "before": before, "pattern": f"{prefix}-%"})
        audit_bulk(session, "Customer", f"synthetic customers {prefix}-{lo}..{prefix}-{hi - 1}"
                   " (bulk insert)", {"customers": hi - lo, "tagged": bool(tag_ids)})
        session.commit()
        made += hi - lo
    return made
