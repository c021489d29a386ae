"""deliveries: each origin's index (enrollment, placement, group send) and the task
index hold only the rows that have one

A delivery has exactly one origin, so two of the three origin indexes held a NULL
entry for every row, moved on each status change. Index-only: code of the previous
release runs unchanged beside it.

Revision ID: f5c9e3a7b2d4
Revises: e4b8d2f6a1c3
Create Date: 2026-12-06 03:35:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f5c9e3a7b2d4'
down_revision = 'e4b8d2f6a1c3'
branch_labels = None
depends_on = None

INDEXES = {f'ix_deliveries_{name}_status': [f'{name}_id', 'status']
           for name in ('enrollment', 'placement', 'group_send')}
INDEXES['ix_deliveries_task_id'] = ['task_id']


def _where(columns):
    return sa.text(f'{columns[0]} IS NOT NULL')


def upgrade():
    for name, columns in INDEXES.items():
        op.drop_index(name, table_name='deliveries')
        op.create_index(name, 'deliveries', columns, unique=False,
                        sqlite_where=_where(columns), postgresql_where=_where(columns))


def downgrade():
    for name, columns in INDEXES.items():
        op.drop_index(name, table_name='deliveries', sqlite_where=_where(columns),
                      postgresql_where=_where(columns))
        op.create_index(name, 'deliveries', columns, unique=False)
