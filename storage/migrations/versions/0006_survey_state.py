"""survey field state: opened or closed by hand, quota reached

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 16:55:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'survey_state',
        sa.Column('survey_id', sa.String(length=64), nullable=False),
        sa.Column('manual', sa.String(length=8), nullable=True),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('quota_reached_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('survey_id', name=op.f('pk_survey_state')),
    )


def downgrade() -> None:
    op.drop_table('survey_state')
