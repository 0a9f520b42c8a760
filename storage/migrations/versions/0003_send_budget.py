"""the sending budget shared by webhook workers: one token-bucket row, one heartbeat row per worker

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 17:05:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Used on PostgreSQL only (several workers); SQLite runs one worker and never touches them.
    op.create_table(
        'send_budget',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('tokens', sa.Float(), nullable=False),
        sa.Column('counted_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        'send_workers',
        sa.Column('worker_id', sa.String(length=80), primary_key=True),
        sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('send_workers')
    op.drop_table('send_budget')
