"""a processed update remembers the position version it left behind and whether its reply went out (issue 24: a
redelivered update is answered again only when its reply may have been lost and the respondent has done nothing
since)

Revision ID: 0011_update_outcome
Revises: 0010_send_schedule
Create Date: 2026-12-07 11:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0011_update_outcome'
down_revision = '0010_send_schedule'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('processed_updates', sa.Column('version_after', sa.Integer(), nullable=True))
    op.add_column('processed_updates', sa.Column('replied', sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column('processed_updates', 'replied')
    op.drop_column('processed_updates', 'version_after')
