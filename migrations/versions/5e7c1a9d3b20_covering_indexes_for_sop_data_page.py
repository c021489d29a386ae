"""covering indexes for the SOP data page and the dashboard: the funnel, sends per
day, totals, conversion and the dashboard's sends chart read indexes only
(bench/pages.py, BENCHMARKS.md "Data pages")

Revision ID: 5e7c1a9d3b20
Revises: b52489aa540e
Create Date: 2026-11-24 10:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '5e7c1a9d3b20'
down_revision = 'b52489aa540e'
branch_labels = None
depends_on = None

# name -> (table, columns before, columns after): the same names, wider
WIDENED = {
    'ix_deliveries_queued_at': ('deliveries', ['queued_at'], ['queued_at', 'action']),
    'ix_deliveries_sop_status': ('deliveries', ['sop_id', 'status'],
                                 ['sop_id', 'status', 'position']),
    'ix_deliveries_sop_queued': ('deliveries', ['sop_id', 'queued_at'],
                                 ['sop_id', 'queued_at', 'action']),
    'ix_deliveries_sop_sent': ('deliveries', ['sop_id', 'sent_at'],
                               ['sop_id', 'sent_at', 'action']),
    'ix_enrollments_sop_status': ('enrollments', ['sop_id', 'status', 'customer_id'],
                                  ['sop_id', 'status', 'customer_id', 'holdout']),
    'ix_enrollments_sop_enrolled': ('enrollments', ['sop_id', 'enrolled_at'],
                                    ['sop_id', 'enrolled_at', 'holdout', 'customer_id']),
}


def _rebuild(which: int) -> None:
    for name, (table, *columns) in WIDENED.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
            batch_op.create_index(name, columns[which], unique=False)


def upgrade():
    _rebuild(1)


def downgrade():
    _rebuild(0)
