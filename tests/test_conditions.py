"""One definition of a customer condition, compiled to SQL and to a Python predicate.

Unit tests of the predicate and exact selections of the SQL; the property test that
keeps both agreeing is in test_conditions_property.py.
"""
from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import not_, select

from jobs.conditions_sql import (
    condition_sql, last_matching_stage_sql, matching_ids, snapshot_of, stage_matches_sql,
)
from jobs.core.conditions import (
    ConditionError, CustomerSnapshot, last_matching_stage, matches, parse_condition,
    parse_rules, parse_stages, stage_matches,
)
from models import Customer, CustomerTag, Department, Employee, Tag, db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def snap(**overrides) -> CustomerSnapshot:
    values = {"source": "线上广告", "lifecycle_stage": "潜在", "churn_status": "normal",
              "tier": "normal", "owner_userid": "ann", "owner_department": "华东销售",
              "added_at": local(2024, 3, 10, 12), "tags": frozenset()}
    values.update(overrides)
    if isinstance(values["tags"], (list, set, tuple)):
        values["tags"] = frozenset(values["tags"])
    return CustomerSnapshot(**values)


def holds(raw, customer, **kwargs) -> bool:
    return matches(parse_condition(raw, **kwargs), customer)


# --- the predicate, key by key (no database needed) -------------------------------
def test_empty_condition_matches_everyone():
    assert holds({}, snap())
    assert holds(None, snap(source=None, owner_userid=None, owner_department=None))
    # empty values are "not given", as config export drops them
    assert holds({"sources": [], "tags_any": [], "segment": None}, snap())


def test_sources():
    assert holds({"sources": ["行业展会", "线上广告"]}, snap())
    assert not holds({"sources": ["行业展会"]}, snap())
    assert not holds({"sources": ["行业展会"]}, snap(source=None))


def test_tags_any_all_none():
    customer = snap(tags={"拔牙", "种牙"})
    assert holds({"tags_any": ["补牙", "拔牙"]}, customer)
    assert not holds({"tags_any": ["补牙"]}, customer)
    assert holds({"tags_all": ["拔牙", "种牙"]}, customer)
    assert not holds({"tags_all": ["拔牙", "补牙"]}, customer)
    assert holds({"tags_none": ["补牙"]}, customer)
    assert not holds({"tags_none": ["补牙", "种牙"]}, customer)
    assert holds({"tags_none": ["补牙"]}, snap(tags=()))
    assert not holds({"tags_any": ["补牙"]}, snap(tags=()))


def test_stages_churn_and_tiers_accept_a_scalar_or_a_list():
    customer = snap(lifecycle_stage="付费", churn_status="lost", tier="high")
    assert holds({"stages": "付费", "churn_status": "lost", "tiers": "high"}, customer)
    assert holds({"stages": ["潜在", "付费"], "churn_status": ["dormant", "lost"],
                  "tiers": ["potential", "high"]}, customer)
    assert not holds({"stages": ["潜在"]}, customer)
    assert not holds({"stages": ["潜在"]}, snap(lifecycle_stage=None))
    assert not holds({"churn_status": "normal"}, customer)
    assert not holds({"tiers": ["normal"]}, customer)


def test_sop_members_or_departments():
    ann = snap(owner_userid="ann", owner_department="华东销售")
    cat = snap(owner_userid="cat", owner_department="华南销售")
    nobody = snap(owner_userid=None, owner_department=None)
    assert holds({"members": ["cat"]}, cat) and not holds({"members": ["cat"]}, ann)
    assert holds({"departments": ["华东销售"]}, ann)
    assert not holds({"departments": ["华东销售"]}, cat)
    either = {"members": ["cat"], "departments": ["华东销售"]}
    assert holds(either, ann) and holds(either, cat) and not holds(either, nobody)


def test_segment_owners_and_departments_both_hold():
    seg = {"owners": ["ann", "cat"], "departments": ["华东销售"]}
    assert holds(seg, snap(owner_userid="ann", owner_department="华东销售"))
    assert not holds(seg, snap(owner_userid="cat", owner_department="华南销售"))
    assert not holds(seg, snap(owner_userid="bob", owner_department="华东销售"))


def test_added_between_compares_the_local_date_inclusively():
    window = {"added_from": "2024-03-10", "added_to": date(2024, 3, 11)}
    assert not holds(window, snap(added_at=local(2024, 3, 9, 23, 59, 59)), tz=SHANGHAI)
    assert holds(window, snap(added_at=local(2024, 3, 10, 0, 0)), tz=SHANGHAI)
    assert holds(window, snap(added_at=local(2024, 3, 11, 23, 59, 59)), tz=SHANGHAI)
    assert not holds(window, snap(added_at=local(2024, 3, 12)), tz=SHANGHAI)
    # 2024-03-09 17:00 UTC is already the 10th in Shanghai, still the 9th in UTC
    evening = snap(added_at=datetime(2024, 3, 9, 17, tzinfo=UTC))
    assert holds({"added_from": "2024-03-10"}, evening, tz=SHANGHAI)
    assert not holds({"added_from": "2024-03-10"}, evening, tz=UTC)
    assert holds({"added_to": "2024-03-09"}, evening, tz=UTC)


def test_segment_key_adds_the_segments_filter():
    segments = {"vip": {"tags_any": ["VIP"]}}
    target = {"segment": "vip", "sources": ["线上广告"]}
    assert holds(target, snap(tags={"VIP"}), segments=segments)
    assert not holds(target, snap(tags=()), segments=segments)
    assert not holds(target, snap(tags={"VIP"}, source="行业展会"), segments=segments)


def test_all_given_keys_must_hold():
    target = {"sources": ["线上广告"], "tags_any": ["拔牙"], "members": ["ann"]}
    assert holds(target, snap(tags={"拔牙"}))
    assert not holds(target, snap(tags={"拔牙"}, owner_userid="bob"))
    assert not holds(target, snap(tags=()))


@pytest.mark.parametrize("raw, kwargs, fragment", [
    ({"tag_any": ["x"]}, {}, "unknown condition key(s): tag_any"),
    ({"added_from": "2024-03-10"}, {}, "time zone"),
    ({"added_to": "10/03/2024"}, {"tz": SHANGHAI}, "added_to"),
    ({"added_to": datetime(2024, 3, 10)}, {"tz": SHANGHAI}, "added_to"),
    ({"segment": "vip"}, {"segments": {}}, "unknown segment 'vip'"),
    ({"segment": "a"}, {"segments": {"a": {"segment": "a"}}}, "unknown segment 'a'"),
    ({"sources": [""]}, {}, "sources"),
    ({"tags_all": [{"name": "x"}]}, {}, "tags_all"),
])
def test_bad_condition_is_a_clear_error(raw, kwargs, fragment):
    with pytest.raises(ConditionError) as err:
        parse_condition(raw, **kwargs)
    assert fragment in str(err.value)


@pytest.mark.parametrize("rules", [
    [{"tags_any": []}],
    [{"tag": "x"}],
    [{"stage": "付费", "churn_status": "lost"}],
    [{"all": []}],
    [{"stage": ["付费"]}],
])
def test_bad_journey_rule_is_a_clear_error(rules):
    with pytest.raises(ConditionError):
        parse_rules(rules)


def test_stage_without_a_key_is_a_clear_error():
    with pytest.raises(ConditionError, match="key"):
        parse_stages([{"rules": [{"stage": "付费"}]}])


def test_stage_rules_or_of_and():
    rules = parse_rules([
        {"tags_any": ["拔牙"]},
        {"all": [{"tags_any": ["种牙", "补牙"]}, {"stage": "付费"}]},
    ])
    assert stage_matches(rules, snap(tags={"拔牙"}))
    assert stage_matches(rules, snap(tags={"补牙"}, lifecycle_stage="付费"))
    assert not stage_matches(rules, snap(tags={"补牙"}, lifecycle_stage="潜在"))
    assert not stage_matches(rules, snap(lifecycle_stage="付费"))
    assert stage_matches(parse_rules([{"churn_status": "lost"}]), snap(churn_status="lost"))
    assert not stage_matches(parse_rules([]), snap(tags={"拔牙"}))  # no rules: by hand only


def test_last_matching_stage_wins():
    stages = parse_stages([
        {"key": "new", "rules": [{"stage": "新客户"}]},
        {"key": "extracted", "rules": [{"tags_any": ["拔牙"]}]},
        {"key": "manual"},  # no rules: reached only by hand
        {"key": "implant", "rules": [{"all": [{"tags_any": ["种牙"]}, {"stage": "付费"}]}]},
    ])
    assert last_matching_stage(stages, snap(lifecycle_stage="新客户", tags={"拔牙"})) == "extracted"
    assert last_matching_stage(stages, snap(lifecycle_stage="新客户")) == "new"
    assert last_matching_stage(stages, snap(lifecycle_stage="付费", tags={"拔牙", "种牙"})) \
        == "implant"
    assert last_matching_stage(stages, snap(lifecycle_stage="潜在")) is None


# --- SQL: exact selections on a handful of customers -----------------------------
def add_employees() -> dict[str, Employee]:
    east, south = Department(name="华东销售"), Department(name="华南销售")
    staff = {"ann": Employee(userid="ann", name="Ann", department=east),
             "bob": Employee(userid="bob", name="Bob", department=east),
             "cat": Employee(userid="cat", name="Cat", department=south),
             "dan": Employee(userid="dan", name="Dan", department=None)}
    db.session.add_all(staff.values())
    return staff


@pytest.fixture
def four_customers():
    """c1..c4 around the Shanghai midnight of 2024-03-10 (16:00 UTC on the 9th)."""
    staff = add_employees()
    tags = {name: Tag(name=name) for name in ("拔牙", "种牙", "补牙", "VIP")}
    rows = [
        ("c1", "线上广告", "潜在", "normal", "high", "ann", local(2024, 3, 9, 23, 30), ["拔牙"]),
        ("c2", "行业展会", "付费", "lost", "potential", "bob", local(2024, 3, 10), ["拔牙", "种牙"]),
        ("c3", "渠道活码", None, "dormant", "normal", "cat", local(2024, 3, 10, 23, 59, 59), []),
        ("c4", None, "新客户", "normal", "normal", None, local(2024, 3, 11), ["VIP"]),
    ]
    for ext, source, stage, churn, tier, owner, added, names in rows:
        customer = Customer(external_id=ext, name=ext, source=source, lifecycle_stage=stage,
                            churn_status=churn, tier=tier, owner=staff.get(owner),
                            added_at=added)
        customer.tag_links = [CustomerTag(tag=tags[n]) for n in names]
        db.session.add(customer)
    db.session.commit()


def selected(clause) -> set[str]:
    return set(db.session.scalars(select(Customer.external_id).where(clause)))


def predicate_selects(condition) -> set[str]:
    return {c.external_id for c in db.session.scalars(select(Customer))
            if matches(condition, snapshot_of(c))}


SQL_CASES = [
    ({}, {}, {"c1", "c2", "c3", "c4"}),
    ({"sources": ["线上广告", "渠道活码"]}, {}, {"c1", "c3"}),
    ({"tags_any": ["种牙", "VIP"]}, {}, {"c2", "c4"}),
    ({"tags_all": ["拔牙", "种牙"]}, {}, {"c2"}),
    ({"tags_none": ["拔牙"]}, {}, {"c3", "c4"}),
    ({"tags_none": ["补牙"]}, {}, {"c1", "c2", "c3", "c4"}),
    ({"stages": "付费"}, {}, {"c2"}),
    ({"stages": ["潜在", "新客户"]}, {}, {"c1", "c4"}),
    ({"churn_status": "lost"}, {}, {"c2"}),
    ({"tiers": ["high", "potential"]}, {}, {"c1", "c2"}),
    ({"owners": ["cat"]}, {}, {"c3"}),
    ({"departments": ["华东销售"]}, {}, {"c1", "c2"}),
    ({"members": ["cat"], "departments": ["华东销售"]}, {}, {"c1", "c2", "c3"}),
    ({"owners": ["ann", "cat"], "departments": ["华东销售"]}, {}, {"c1"}),
    ({"added_from": "2024-03-10", "added_to": "2024-03-10"}, {"tz": SHANGHAI}, {"c2", "c3"}),
    ({"added_from": "2024-03-10", "added_to": "2024-03-10"}, {"tz": UTC}, {"c3", "c4"}),
    ({"added_to": "2024-03-09"}, {"tz": SHANGHAI}, {"c1"}),
    ({"segment": "dental", "churn_status": "normal"},
     {"segments": {"dental": {"tags_any": ["拔牙"]}}}, {"c1"}),
    ({"sources": ["行业展会", "线上广告"], "tags_any": ["拔牙"], "tiers": ["potential"]}, {},
     {"c2"}),
]


@pytest.mark.parametrize("raw, kwargs, expected", SQL_CASES)
def test_sql_selects_exactly(four_customers, raw, kwargs, expected):
    condition = parse_condition(raw, **kwargs)
    assert selected(condition_sql(condition)) == expected
    assert predicate_selects(condition) == expected


def test_negated_sql_selects_the_rest_even_with_nulls(four_customers):
    # c4 has no source and no owner; c3 no stage: NOT must still select them
    assert selected(not_(condition_sql(parse_condition({"sources": ["线上广告"]})))) \
        == {"c2", "c3", "c4"}
    assert selected(not_(condition_sql(parse_condition({"stages": ["潜在"]})))) \
        == {"c2", "c3", "c4"}
    assert selected(not_(condition_sql(parse_condition({"departments": ["华东销售"]})))) \
        == {"c3", "c4"}


def test_matching_ids_runs_one_query(four_customers):
    ids = matching_ids(db.session, parse_condition({"tags_any": ["拔牙"]}))
    assert ids == set(db.session.scalars(
        select(Customer.id).where(Customer.external_id.in_(["c1", "c2"]))))


def test_sql_stage_rules_and_last_stage(four_customers):
    rules = parse_rules([{"tags_any": ["VIP"]},
                         {"all": [{"tags_any": ["拔牙"]}, {"stage": "付费"}]}])
    assert selected(stage_matches_sql(rules)) == {"c2", "c4"}
    assert selected(stage_matches_sql(())) == set()
    stages = parse_stages([
        {"key": "tagged", "rules": [{"tags_any": ["拔牙", "VIP"]}]},
        {"key": "manual"},
        {"key": "lost", "rules": [{"churn_status": "lost"}]},
    ])
    rows = db.session.execute(select(Customer.external_id, last_matching_stage_sql(stages)))
    assert dict(rows.all()) == {"c1": "tagged", "c2": "lost", "c3": None, "c4": "tagged"}
