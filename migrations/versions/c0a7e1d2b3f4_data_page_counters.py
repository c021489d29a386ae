"""data page counters (issue 13): counter tables kept by triggers, enrollments.converted
decided once a conversion window closes; the counters are filled from the rows here

NOTE for later migrations: on SQLite `batch_alter_table` copies a table and drops its
triggers; a migration that batch-alters deliveries, customers, journey_placements or
enrollments must call models.counter_triggers.create_triggers(op.get_bind()) after it
(tests/test_migrations.py checks they exist at head).

Revision ID: c0a7e1d2b3f4
Revises: 7f3c2a1b9e40
Create Date: 2026-12-05 09:10:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c0a7e1d2b3f4'
down_revision = '7f3c2a1b9e40'
branch_labels = None
depends_on = None

STR = ('action', 'status', 'measure')  # String(10) key columns; the rest are integers
TABLES = {
    'delivery_counts': ['sop_id', 'journey_id', 'position', 'action', 'status', 'holdout',
                        'held', 'sender_id', 'shard'],
    'delivery_hours': ['measure', 'hour', 'sop_id', 'action', 'status', 'holdout', 'shard'],
    'customer_hours': ['hour', 'shard'],
    'placement_hours': ['journey_id', 'stage_id', 'measure', 'hour', 'shard'],
    'placement_moves': ['journey_id', 'from_stage', 'to_stage', 'hour', 'shard'],
    'conversion_counts': ['sop_id', 'hour', 'holdout', 'converted', 'shard'],
}


def upgrade():
    from jobs.counters import rebuild_all_sql
    from models.counter_triggers import backfill_moves, create_triggers

    for table, keys in TABLES.items():
        op.create_table(
            table,
            *[sa.Column(k, sa.String(length=10) if k in STR else sa.Integer(),
                        autoincrement=False, nullable=False) for k in keys],
            sa.Column('n', sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint(*keys, name=op.f(f'pk_{table}')))
    op.add_column('enrollments', sa.Column('converted', sa.Boolean(), nullable=True))
    op.create_index('ix_enrollments_undecided', 'enrollments', ['sop_id', 'enrolled_at'],
                    unique=False, sqlite_where=sa.text('converted IS NULL'),
                    postgresql_where=sa.text('converted IS NULL'))
    op.add_column('journey_placements',
                  sa.Column('came_from_stage_id', sa.Integer(), nullable=True))
    op.add_column('journey_placements', sa.Column('moved_on', sa.Boolean(),
                                                  server_default=sa.false(), nullable=False))
    bind = op.get_bind()
    backfill_moves(bind)
    for statement in rebuild_all_sql(bind.dialect.name):
        bind.exec_driver_sql(statement)
    create_triggers(bind)


def downgrade():
    from models.counter_triggers import drop_triggers

    drop_triggers(op.get_bind())
    op.drop_index('ix_enrollments_undecided', table_name='enrollments',
                  sqlite_where=sa.text('converted IS NULL'),
                  postgresql_where=sa.text('converted IS NULL'))
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.drop_column('converted')
    with op.batch_alter_table('journey_placements', schema=None) as batch_op:
        batch_op.drop_column('moved_on')
        batch_op.drop_column('came_from_stage_id')
    for table in reversed(TABLES):
        op.drop_table(table)
