"""wecom: callback journal, tag write-back outbox, tags.wecom_id

Revision ID: b52489aa540e
Revises: 0b92286cd8f3
Create Date: 2026-11-24 09:49:59.142776

"""
from alembic import op
import sqlalchemy as sa

import models.base


# revision identifiers, used by Alembic.
revision = 'b52489aa540e'
down_revision = '0b92286cd8f3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('wecom_callbacks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', models.base.UTCDateTime(), nullable=False),
    sa.Column('event_key', sa.String(length=100), nullable=False),
    sa.Column('msg_signature', sa.String(length=64), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('timestamp', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('change_type', sa.String(length=40), nullable=True),
    sa.Column('external_userid', sa.String(length=64), nullable=True),
    sa.Column('userid', sa.String(length=64), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
    sa.Column('xml', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=True),
    sa.Column('welcome', sa.String(length=300), nullable=True),
    sa.Column('synced_at', models.base.UTCDateTime(), nullable=True),
    sa.Column('repeats', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('accepted', 'ignored')", name=op.f('ck_wecom_callbacks_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wecom_callbacks')),
    sa.UniqueConstraint('event_key', name=op.f('uq_wecom_callbacks_event_key'))
    )
    with op.batch_alter_table('wecom_callbacks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wecom_callbacks_change_type'), ['change_type'], unique=False)
        batch_op.create_index(batch_op.f('ix_wecom_callbacks_external_userid'), ['external_userid'], unique=False)
        batch_op.create_index(batch_op.f('ix_wecom_callbacks_received_at'), ['received_at'], unique=False)
        batch_op.create_index('ix_wecom_callbacks_signature_nonce', ['msg_signature', 'nonce'], unique=False)

    op.create_table('wecom_tag_writes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
    sa.Column('next_try_at', models.base.UTCDateTime(), nullable=False),
    sa.Column('done_at', models.base.UTCDateTime(), nullable=True),
    sa.CheckConstraint("action IN ('add', 'remove')", name=op.f('ck_wecom_tag_writes_action')),
    sa.CheckConstraint("status IN ('pending', 'done', 'failed')", name=op.f('ck_wecom_tag_writes_status')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_wecom_tag_writes_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tag_id'], ['tags.id'], name=op.f('fk_wecom_tag_writes_tag_id_tags'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wecom_tag_writes'))
    )
    with op.batch_alter_table('wecom_tag_writes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wecom_tag_writes_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_wecom_tag_writes_due', ['status', 'next_try_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_wecom_tag_writes_tag_id'), ['tag_id'], unique=False)
        batch_op.create_index('uq_wecom_tag_writes_pending', ['customer_id', 'tag_id', 'action'], unique=True, sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))

    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wecom_id', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_tags_wecom_id'), ['wecom_id'])



def downgrade():
    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_tags_wecom_id'), type_='unique')
        batch_op.drop_column('wecom_id')

    with op.batch_alter_table('wecom_tag_writes', schema=None) as batch_op:
        batch_op.drop_index('uq_wecom_tag_writes_pending', sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
        batch_op.drop_index(batch_op.f('ix_wecom_tag_writes_tag_id'))
        batch_op.drop_index('ix_wecom_tag_writes_due')
        batch_op.drop_index(batch_op.f('ix_wecom_tag_writes_customer_id'))

    op.drop_table('wecom_tag_writes')
    with op.batch_alter_table('wecom_callbacks', schema=None) as batch_op:
        batch_op.drop_index('ix_wecom_callbacks_signature_nonce')
        batch_op.drop_index(batch_op.f('ix_wecom_callbacks_received_at'))
        batch_op.drop_index(batch_op.f('ix_wecom_callbacks_external_userid'))
        batch_op.drop_index(batch_op.f('ix_wecom_callbacks_change_type'))

    op.drop_table('wecom_callbacks')
