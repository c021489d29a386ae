"""Conditions compiled to SQL over `customers`, for sets of customers.

The same parsed `Condition` that `jobs.core.conditions.matches` reads for one
customer becomes a WHERE clause here: tags through correlated EXISTS subqueries on
`customer_tags` joined to `tags` by name, owners through EXISTS on `employees`, never
a per-customer loop. Every clause is two-valued (never SQL NULL), so `not_()` of a
clause selects exactly the customers the predicate rejects.

    select(Customer.id).where(condition_sql(parse_condition(target, tz=tz)))
"""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, case, false, null, or_, select, true
from sqlalchemy.orm import Session

from jobs.core.conditions import Condition, CustomerSnapshot, OwnerScope, Rule, Stage
from models import Customer, CustomerTag, Department, Employee, Tag
from models.one_of import one_of


def _has_tag(names) -> ColumnElement[bool]:
    """The customer has at least one of these tags."""
    return (select(CustomerTag.customer_id)
            .join(Tag, Tag.id == CustomerTag.tag_id)
            .where(CustomerTag.customer_id == Customer.id, Tag.name.in_(sorted(names)))
            .exists())


def _in(column, values) -> ColumnElement[bool]:
    """`column IN values`, false (not NULL) when the column is NULL."""
    return and_(column.is_not(None), column.in_(sorted(values)))


def _owner_in(scope: OwnerScope) -> ColumnElement[bool]:
    by_user = Employee.userid.in_(sorted(scope.userids)) if scope.userids else false()
    by_department = select(Department.id).where(
        Department.id == Employee.department_id,
        Department.name.in_(sorted(scope.departments))).exists() if scope.departments else false()
    return select(Employee.id).where(
        Employee.id == Customer.owner_id, or_(by_user, by_department)).exists()


def condition_sql(condition: Condition) -> ColumnElement[bool]:
    """A WHERE clause selecting the customers `matches(condition, ·)` accepts."""
    c = condition
    clauses = []
    if c.sources is not None:
        clauses.append(_in(Customer.source, c.sources))
    if c.tags_any is not None:
        clauses.append(_has_tag(c.tags_any))
    if c.tags_all is not None:
        clauses.extend(_has_tag([name]) for name in sorted(c.tags_all))
    if c.tags_none is not None:
        clauses.append(~_has_tag(c.tags_none))
    if c.stages is not None:
        clauses.append(_in(Customer.lifecycle_stage, c.stages))
    if c.churn_statuses is not None:
        clauses.append(_in(Customer.churn_status, c.churn_statuses))
    if c.tiers is not None:
        clauses.append(_in(Customer.tier, c.tiers))
    clauses.extend(_owner_in(scope) for scope in c.owner_scopes)
    if c.added_since is not None:
        clauses.append(Customer.added_at >= c.added_since)
    if c.added_before is not None:
        clauses.append(Customer.added_at < c.added_before)
    if c.segment is not None:
        clauses.append(condition_sql(c.segment))
    return and_(true(), *clauses)


def stage_matches_sql(rules: Sequence[Rule]) -> ColumnElement[bool]:
    """OR of the rules, AND within each; no rules select no one."""
    return or_(false(), *(and_(true(), *map(condition_sql, r.conditions)) for r in rules))


def last_matching_stage_sql(stages: Sequence[Stage]) -> ColumnElement:
    """The key of the last stage whose rules match, or NULL: a column for a SELECT."""
    whens = [(stage_matches_sql(s.rules), s.key) for s in reversed(stages) if s.rules]
    return case(*whens, else_=null()) if whens else null()


def snapshot_of(customer: Customer) -> CustomerSnapshot:
    """A loaded customer as the predicate sees it (loads owner and tags if needed)."""
    owner = customer.owner
    return CustomerSnapshot(
        source=customer.source,
        lifecycle_stage=customer.lifecycle_stage,
        churn_status=customer.churn_status,
        tier=customer.tier,
        owner_userid=owner.userid if owner else None,
        owner_department=owner.department.name if owner and owner.department else None,
        added_at=customer.added_at,
        tags=frozenset(t.name for t in customer.tags),
    )


def snapshots(session: Session, ids) -> dict[int, CustomerSnapshot]:
    """Snapshots of these customers in two queries (their fields, owner and
    department; their tags): what the tick's predicate needs for the changed few."""
    ids = sorted(ids)
    if not ids:
        return {}
    tags: dict[int, set[str]] = {}
    for customer_id, name in session.execute(
            select(CustomerTag.customer_id, Tag.name).join(Tag, Tag.id == CustomerTag.tag_id)
            .where(one_of(CustomerTag.customer_id, ids))):
        tags.setdefault(customer_id, set()).add(name)
    rows = session.execute(
        select(Customer.id, Customer.source, Customer.lifecycle_stage, Customer.churn_status,
               Customer.tier, Customer.added_at, Employee.userid, Department.name)
        .outerjoin(Employee, Employee.id == Customer.owner_id)
        .outerjoin(Department, Department.id == Employee.department_id)
        .where(one_of(Customer.id, ids)))
    return {r[0]: CustomerSnapshot(
        source=r[1], lifecycle_stage=r[2], churn_status=r[3], tier=r[4], added_at=r[5],
        owner_userid=r[6], owner_department=r[7], tags=frozenset(tags.get(r[0], ())))
        for r in rows}


def matching_ids(session: Session, condition: Condition) -> set[int]:
    """Ids of every customer matching `condition` (one query)."""
    return set(session.scalars(select(Customer.id).where(condition_sql(condition))))
