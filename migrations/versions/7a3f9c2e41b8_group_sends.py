"""manual group sends (客户群发): group_sends, their attachments, and deliveries and send
batches that come from a group send instead of an SOP or a journey

Revision ID: 7a3f9c2e41b8
Revises: c0a7e1d2b3f4
Create Date: 2026-12-05 09:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime
from models.counter_triggers import create_triggers

# revision identifiers, used by Alembic.
revision = '7a3f9c2e41b8'
down_revision = 'c0a7e1d2b3f4'
branch_labels = None
depends_on = None

ORIGIN_CHECK = ('(CASE WHEN enrollment_id IS NULL THEN 0 ELSE 1 END) + '
                '(CASE WHEN placement_id IS NULL THEN 0 ELSE 1 END) + '
                '(CASE WHEN group_send_id IS NULL THEN 0 ELSE 1 END) = 1')
OLD_ORIGIN = '(enrollment_id IS NULL) <> (placement_id IS NULL)'


def upgrade():
    op.create_table(
        'group_sends',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('target', sa.JSON(), nullable=False),
        sa.Column('senders', sa.JSON(), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('batch_size', sa.Integer(), nullable=False),
        sa.Column('batch_interval_minutes', sa.Integer(), nullable=False),
        sa.Column('created_by', sa.String(length=80), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('cancelled_at', UTCDateTime(), nullable=True),
        sa.Column('matched', sa.Integer(), nullable=False),
        sa.Column('today', sa.Integer(), nullable=False),
        sa.Column('deferred', sa.Integer(), nullable=False),
        sa.Column('no_owner', sa.Integer(), nullable=False),
        sa.Column('deferred_to', sa.JSON(), nullable=False),
        sa.CheckConstraint('batch_size > 0', name=op.f('ck_group_sends_batch_size')),
        sa.CheckConstraint('batch_interval_minutes >= 0',
                           name=op.f('ck_group_sends_batch_interval')),
        sa.CheckConstraint("status IN ('active', 'cancelled')", name=op.f('ck_group_sends_status')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_group_sends')),
        sa.UniqueConstraint('key', name=op.f('uq_group_sends_key')),
    )
    op.create_index(op.f('ix_group_sends_at'), 'group_sends', ['at'], unique=False)
    op.create_table(
        'group_send_attachments',
        sa.Column('group_send_id', sa.Integer(), nullable=False),
        sa.Column('material_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['group_send_id'], ['group_sends.id'],
                                name=op.f('fk_group_send_attachments_group_send_id_group_sends'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['material_id'], ['materials.id'],
                                name=op.f('fk_group_send_attachments_material_id_materials'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('group_send_id', 'material_id',
                                name=op.f('pk_group_send_attachments')),
    )
    op.create_index(op.f('ix_group_send_attachments_material_id'), 'group_send_attachments',
                    ['material_id'], unique=False)
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group_send_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_deliveries_group_send_id_group_sends'),
                                    'group_sends', ['group_send_id'], ['id'], ondelete='CASCADE')
        batch_op.create_unique_constraint(batch_op.f('uq_deliveries_group_send_id_customer_id'),
                                          ['group_send_id', 'customer_id'])
        batch_op.create_index('ix_deliveries_group_send_status', ['group_send_id', 'status'],
                              unique=False)
        batch_op.drop_constraint(batch_op.f('ck_deliveries_origin'), type_='check')
        batch_op.create_check_constraint('origin', ORIGIN_CHECK)
    with op.batch_alter_table('send_batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group_send_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_send_batches_group_send_id_group_sends'),
                                    'group_sends', ['group_send_id'], ['id'], ondelete='CASCADE')
        batch_op.create_index(batch_op.f('ix_send_batches_group_send_id'), ['group_send_id'],
                              unique=False)
    create_triggers(op.get_bind())  # SQLite's batch mode rebuilt deliveries without them


def downgrade():
    op.execute('DELETE FROM deliveries WHERE group_send_id IS NOT NULL')
    op.execute('DELETE FROM send_batches WHERE group_send_id IS NOT NULL')
    with op.batch_alter_table('send_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_send_batches_group_send_id'))
        batch_op.drop_constraint(batch_op.f('fk_send_batches_group_send_id_group_sends'),
                                 type_='foreignkey')
        batch_op.drop_column('group_send_id')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_deliveries_origin'), type_='check')
        batch_op.create_check_constraint('origin', OLD_ORIGIN)
        batch_op.drop_index('ix_deliveries_group_send_status')
        batch_op.drop_constraint(batch_op.f('uq_deliveries_group_send_id_customer_id'),
                                 type_='unique')
        batch_op.drop_constraint(batch_op.f('fk_deliveries_group_send_id_group_sends'),
                                 type_='foreignkey')
        batch_op.drop_column('group_send_id')
    create_triggers(op.get_bind())
    op.drop_index(op.f('ix_group_send_attachments_material_id'),
                  table_name='group_send_attachments')
    op.drop_table('group_send_attachments')
    op.drop_index(op.f('ix_group_sends_at'), table_name='group_sends')
    op.drop_table('group_sends')
