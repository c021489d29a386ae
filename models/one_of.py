"""`one_of(column, values)`: `column IN (values)` that PostgreSQL gets as one parameter.

SQLAlchemy sends an IN list as one placeholder per value. With hundreds of ids (a
tick's changed customers) psycopg re-parses each such statement in Python (it caches
only statements of at most 50 parameters) and the server plans a new shape per list
length: a quarter of an incremental tick at 1 M customers (BENCHMARKS.md). On
PostgreSQL this renders `column = ANY(%(p)s::INTEGER[])`: one array parameter, one
statement text whatever the list's length. Elsewhere it is the ordinary IN.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Boolean, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class OneOf(ColumnElement[bool]):
    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a condition already: no `= 1` after it on SQLite
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("values", InternalTraversal.dp_clauseelement)]

    def __init__(self, column, values: Iterable):
        self.column = column
        self.values = bindparam(None, list(values), type_=column.type, expanding=True)


def one_of(column, values: Iterable) -> ColumnElement[bool]:
    return OneOf(column, values)


@compiles(OneOf)
def _in_list(element: OneOf, compiler, **kw) -> str:
    return compiler.process(element.column.in_(element.values), **kw)


@compiles(OneOf, "postgresql")
def _any_array(element: OneOf, compiler, **kw) -> str:
    # the same parameter (a clone keeps its place in the cached statement), as one array
    array = element.values._clone()
    array.expanding, array.type = False, ARRAY(element.column.type)
    return f"{compiler.process(element.column, **kw)} = ANY({compiler.process(array, **kw)})"
