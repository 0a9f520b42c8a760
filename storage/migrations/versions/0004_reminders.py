"""reminders: per response, how many were claimed, the first delivered and the last claim

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 21:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN with a constant default: no table rewrite on either database.
    with op.batch_alter_table('responses') as batch:
        batch.add_column(sa.Column('reminders_sent', sa.Integer(), nullable=False, server_default=sa.text('0')))
        batch.add_column(sa.Column('first_reminded_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('last_reminded_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('responses') as batch:
        batch.drop_column('last_reminded_at')
        batch.drop_column('first_reminded_at')
        batch.drop_column('reminders_sent')
