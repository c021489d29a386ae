"""ix_enrollments_due indexes only enrollments with a step to come (next_due_at set);
the counters' placement trigger joins new rows to the customer's placements by index;
ix_customers_unplanned for the follow-up backfill's scan

Waiting enrollments (every step written, next_due_at NULL) are looked up by id; with
them in this index a stale plan read all of them per sent batch. The triggers are made
again (models/counter_triggers.py: the PostgreSQL INSERT trigger on journey_placements
scanned every placement). Index and trigger only: code of the previous release runs
unchanged beside it.

Revision ID: e4b8d2f6a1c3
Revises: 7a3f9c2e41b8
Create Date: 2026-12-06 02:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

from models.counter_triggers import create_triggers

# revision identifiers, used by Alembic.
revision = 'e4b8d2f6a1c3'
down_revision = '7a3f9c2e41b8'
branch_labels = None
depends_on = None

WHERE = sa.text('next_due_at IS NOT NULL')
UNPLANNED = sa.text("next_followup_at IS NULL AND followup_task_id IS NULL "
                    "AND churn_status <> 'lost'")


def upgrade():
    op.drop_index('ix_enrollments_due', table_name='enrollments')
    op.create_index('ix_enrollments_due', 'enrollments', ['status', 'next_due_at'],
                    unique=False, sqlite_where=WHERE, postgresql_where=WHERE)
    create_triggers(op.get_bind())
    op.create_index('ix_customers_unplanned', 'customers', ['id'], unique=False,
                    sqlite_where=UNPLANNED, postgresql_where=UNPLANNED)


def downgrade():
    op.drop_index('ix_customers_unplanned', table_name='customers',
                  sqlite_where=UNPLANNED, postgresql_where=UNPLANNED)
    op.drop_index('ix_enrollments_due', table_name='enrollments',
                  sqlite_where=WHERE, postgresql_where=WHERE)
    op.create_index('ix_enrollments_due', 'enrollments', ['status', 'next_due_at'],
                    unique=False)
