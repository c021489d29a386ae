"""Property: SQL and the Python predicate agree on random customers and conditions
(hypothesis), on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import UTC, date, timedelta
from functools import partial

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, not_, select

from jobs.conditions_sql import (
    condition_sql, last_matching_stage_sql, stage_matches_sql,
)
from jobs.core.conditions import (
    CustomerSnapshot, last_matching_stage, matches, parse_condition,
    parse_rules, parse_stages, stage_matches,
)
from models import Customer, CustomerTag, Employee, Tag, db

from tests.test_conditions import SHANGHAI, add_employees, local, selected


# --- property: SQL and predicate agree on random customers and conditions ---------
TAGS = ("拔牙", "种牙", "补牙", "复购", "VIP")
SOURCES = ("线上广告", "行业展会", "渠道活码")
STAGES = ("潜在", "新客户", "付费", "忠实")
CHURN = ("normal", "lost", "dormant")
TIERS = ("high", "potential", "normal")
OWNERS = ("ann", "bob", "cat", "dan")  # dan has no department
DEPARTMENTS = ("华东销售", "华南销售")
BOUNDARY = local(2024, 3, 10)  # a local midnight; customers are added around it
DAY = 86400


def names(vocab, unknown="?"):
    """Lists from the vocabulary plus a name nobody has."""
    return st.lists(st.sampled_from(vocab + (unknown,)), max_size=3, unique=True)


def scalar_or_list(vocab):
    return st.one_of(st.sampled_from(vocab), names(vocab))


dates = st.dates(date(2024, 3, 8), date(2024, 3, 11))  # the days customers are added on
iso_or_date = st.one_of(dates, dates.map(date.isoformat))

condition_keys = {
    "sources": names(SOURCES), "tags_any": names(TAGS), "tags_all": names(TAGS),
    "tags_none": names(TAGS), "stages": scalar_or_list(STAGES),
    "churn_status": scalar_or_list(CHURN), "tiers": scalar_or_list(TIERS),
    "owners": names(OWNERS), "members": names(OWNERS), "departments": names(DEPARTMENTS),
    "added_from": iso_or_date, "added_to": iso_or_date,
}
# a few keys at a time: with many keys AND'ed, nearly every condition selects no one
condition_sets = st.lists(st.sampled_from(sorted(condition_keys)), max_size=3, unique=True) \
    .flatmap(lambda keys: st.fixed_dictionaries({k: condition_keys[k] for k in keys}))
# (target, the filter of the segment it names or None)
targets = st.tuples(condition_sets, st.one_of(st.none(), condition_sets))

journey_conditions = st.one_of(
    st.fixed_dictionaries({"tags_any": st.lists(st.sampled_from(TAGS), min_size=1, max_size=3,
                                                unique=True)}),
    st.fixed_dictionaries({"stage": st.sampled_from(STAGES)}),
    st.fixed_dictionaries({"churn_status": st.sampled_from(CHURN)}),
)
journey_rules = st.lists(st.one_of(
    journey_conditions,
    st.fixed_dictionaries({"all": st.lists(journey_conditions, min_size=1, max_size=3)}),
), max_size=3)

# seconds from the boundary, within ±2 days; half the time on a local midnight or the
# second before one, where the added_from/added_to comparisons are decided
offsets = st.builds(lambda day, second: day * DAY + second, st.integers(-2, 1),
                    st.one_of(st.sampled_from([0, DAY - 1]), st.integers(0, DAY - 1)))
customers = st.fixed_dictionaries({
    "source": st.one_of(st.none(), st.sampled_from(SOURCES)),
    "lifecycle_stage": st.one_of(st.none(), st.sampled_from(STAGES)),
    "churn_status": st.sampled_from(CHURN),
    "tier": st.sampled_from(TIERS),
    "owner": st.one_of(st.none(), st.sampled_from(OWNERS)),
    "offset": offsets,
    "tags": st.frozensets(st.sampled_from(TAGS)),
})


@pytest.fixture
def world():
    """Departments, employees and tags, kept for every example of the test."""
    add_employees()
    db.session.add_all(Tag(name=name) for name in TAGS)
    db.session.commit()
    staff = db.session.execute(select(Employee.userid, Employee.id)).all()
    tags = db.session.execute(select(Tag.name, Tag.id)).all()
    return {"employees": dict(staff), "tags": dict(tags)}


def snapshot(person: dict) -> CustomerSnapshot:
    owner = person["owner"]
    department = {"ann": "华东销售", "bob": "华东销售", "cat": "华南销售"}.get(owner)
    return CustomerSnapshot(
        source=person["source"], lifecycle_stage=person["lifecycle_stage"],
        churn_status=person["churn_status"], tier=person["tier"], owner_userid=owner,
        owner_department=department, tags=person["tags"],
        added_at=(BOUNDARY + timedelta(seconds=person["offset"])).astimezone(UTC))


def insert_population(world, population: list[dict]) -> None:
    if not population:  # an empty executemany would insert one row of defaults
        return
    db.session.execute(insert(Customer), [
        {"external_id": f"c{i}", "name": f"c{i}", "source": p["source"],
         "lifecycle_stage": p["lifecycle_stage"], "churn_status": p["churn_status"],
         "tier": p["tier"], "owner_id": world["employees"].get(p["owner"]),
         "added_at": snapshot(p).added_at}
        for i, p in enumerate(population)])
    ids = dict(db.session.execute(select(Customer.external_id, Customer.id)).all())
    links = [{"customer_id": ids[f"c{i}"], "tag_id": world["tags"][name]}
             for i, p in enumerate(population) for name in sorted(p["tags"])]
    if links:
        db.session.execute(insert(CustomerTag), links)
    db.session.commit()


def remove_population() -> None:
    db.session.rollback()
    db.session.execute(delete(CustomerTag))
    db.session.execute(delete(Customer))
    db.session.commit()


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(population=st.lists(customers, min_size=3, max_size=12),
       target_list=st.lists(targets, min_size=1, max_size=6),
       stage_list=st.lists(journey_rules, max_size=4))
def test_sql_and_predicate_agree(world, population, target_list, stage_list):
    insert_population(world, population)
    try:
        snapshots = {f"c{i}": snapshot(p) for i, p in enumerate(population)}
        everyone = set(snapshots)

        def agree(clause, predicate):
            expected = {ext for ext, s in snapshots.items() if predicate(s)}
            assert selected(clause) == expected
            assert selected(not_(clause)) == everyone - expected

        for raw, segment_filter in target_list:
            segments = None
            if segment_filter is not None:
                raw, segments = {**raw, "segment": "seg"}, {"seg": segment_filter}
            condition = parse_condition(raw, tz=SHANGHAI, segments=segments)
            agree(condition_sql(condition), partial(matches, condition))

        for raw_rules in stage_list:
            rules = parse_rules(raw_rules)
            agree(stage_matches_sql(rules), partial(stage_matches, rules))

        stages = parse_stages({"key": f"s{i}", "rules": r} for i, r in enumerate(stage_list))
        rows = db.session.execute(select(Customer.external_id, last_matching_stage_sql(stages)))
        assert dict(rows.all()) == {ext: last_matching_stage(stages, s)
                                    for ext, s in snapshots.items()}
    finally:
        remove_population()
