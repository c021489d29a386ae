"""deliveries: a partial index of the A/B variant rows per SOP, for the data page

Revision ID: a6d0f4b8c3e5
Revises: f5c9e3a7b2d4
Create Date: 2026-12-06 04:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a6d0f4b8c3e5'
down_revision = 'f5c9e3a7b2d4'
branch_labels = None
depends_on = None

WHERE = sa.text('variant IS NOT NULL')


def upgrade():
    op.create_index('ix_deliveries_sop_variant', 'deliveries', ['sop_id', 'status', 'variant'],
                    unique=False, sqlite_where=WHERE, postgresql_where=WHERE)


def downgrade():
    op.drop_index('ix_deliveries_sop_variant', table_name='deliveries',
                  sqlite_where=WHERE, postgresql_where=WHERE)
