"""data pages: indexes for the list sorts, sends per day and the SOP customer list

Revision ID: 0b92286cd8f3
Revises: d0feb66796ea
Create Date: 2026-11-24 09:59:45.207471

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0b92286cd8f3'
down_revision = 'd0feb66796ea'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customers_name'), ['name'], unique=False)

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_due_at', ['due_at'], unique=False)
        batch_op.create_index('ix_deliveries_first_due', ['first_due_at'], unique=False)
        batch_op.create_index('ix_deliveries_queued_at', ['queued_at'], unique=False)
        batch_op.create_index('ix_deliveries_sop_queued', ['sop_id', 'queued_at'], unique=False)
        batch_op.create_index('ix_deliveries_sop_sent', ['sop_id', 'sent_at'], unique=False)

    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.create_index('ix_enrollments_enrolled', ['enrolled_at'], unique=False)
        batch_op.create_index('ix_enrollments_sop_enrolled', ['sop_id', 'enrolled_at'], unique=False)



def downgrade():
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.drop_index('ix_enrollments_sop_enrolled')
        batch_op.drop_index('ix_enrollments_enrolled')

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_sop_sent')
        batch_op.drop_index('ix_deliveries_sop_queued')
        batch_op.drop_index('ix_deliveries_queued_at')
        batch_op.drop_index('ix_deliveries_first_due')
        batch_op.drop_index('ix_deliveries_due_at')

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_name'))

