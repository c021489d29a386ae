"""work calendar (calendar_days), A/B variants on message steps and deliveries,
WeCom media ids cached on materials (issue 15)

Revision ID: 7f3c2a1b9e40
Revises: 5e7c1a9d3b20
Create Date: 2026-12-05 09:20:00.000000

"""
from alembic import op
import sqlalchemy as sa

import models.base


# revision identifiers, used by Alembic.
revision = '7f3c2a1b9e40'
down_revision = '5e7c1a9d3b20'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('calendar_days',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('note', sa.String(length=100), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.CheckConstraint("kind IN ('holiday', 'workday')", name=op.f('ck_calendar_days_kind')),
    sa.CheckConstraint("source IN ('chinesecalendar', 'manual')", name=op.f('ck_calendar_days_source')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_days')),
    sa.UniqueConstraint('day', name=op.f('uq_calendar_days_day'))
    )
    with op.batch_alter_table('sop_steps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('added_at', models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('variants', sa.JSON(), nullable=True))
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('variant', sa.String(length=64), nullable=True))
    with op.batch_alter_table('send_batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('variant', sa.String(length=64), nullable=True))
    with op.batch_alter_table('materials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('media_id', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('media_uploaded_at', models.base.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('materials', schema=None) as batch_op:
        batch_op.drop_column('media_uploaded_at')
        batch_op.drop_column('media_id')
    with op.batch_alter_table('send_batches', schema=None) as batch_op:
        batch_op.drop_column('variant')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('variant')
    with op.batch_alter_table('sop_steps', schema=None) as batch_op:
        batch_op.drop_column('variants')
        batch_op.drop_column('added_at')
    op.drop_table('calendar_days')
