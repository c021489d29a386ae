"""`one_of(column, ids)` (models/one_of.py): the rows IN would pick, on both databases,
and on PostgreSQL one statement text whatever the list's length (one array parameter)."""
from __future__ import annotations

from sqlalchemy import select, update

from models import Customer, db
from models.one_of import one_of
from tests.conftest import make_employee


def customers(n: int) -> list[int]:
    owner = make_employee("zhangsan")
    rows = [Customer(external_id=f"c{i}", name=f"c{i}", owner=owner) for i in range(n)]
    db.session.add_all(rows)
    db.session.flush()
    return [c.id for c in rows]


def picked(condition) -> list[int]:
    return list(db.session.scalars(select(Customer.id).where(condition).order_by(Customer.id)))


def test_picks_what_in_would_pick_for_short_long_and_empty_lists():
    ids = customers(120)
    for chosen in (ids[:3], ids[::2], [ids[5]], []):  # 60 ids: past psycopg's 50
        assert picked(one_of(Customer.id, chosen)) == sorted(chosen)
        assert picked(~one_of(Customer.id, chosen)) == [i for i in ids if i not in chosen]
        assert picked(one_of(Customer.id, chosen) & (Customer.id > ids[3])) == \
            [i for i in sorted(chosen) if i > ids[3]]


def test_updates_exactly_the_listed_rows():
    ids = customers(80)
    db.session.execute(update(Customer).where(one_of(Customer.id, ids[10:70]))
                       .values(tier="high").execution_options(synchronize_session=False))
    db.session.expire_all()
    assert picked(Customer.tier == "high") == ids[10:70]


def test_one_statement_text_for_any_length_on_postgresql():
    dialect = db.session.get_bind().dialect
    short, long = (str(select(Customer.id).where(one_of(Customer.id, values))
                       .compile(dialect=dialect)) for values in ([1, 2], list(range(500))))
    assert short == long  # the list is expanded, if at all, only when it is executed
    if dialect.name == "postgresql":
        assert "= ANY(" in short and "IN (" not in short
    else:
        assert "IN (__[POSTCOMPILE_" in short and "= 1" not in short  # no `(... IN ...) = 1`
