"""random order of options and questions: each response's seed, and the order each answer's options were shown in

Revision ID: 0009_random_order
Revises: 0008_quality
Create Date: 2026-12-07 11:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009_random_order'
down_revision = '0008_quality'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Columns only: responses and answers stored before stay as they are (NULL: no seed, no order recorded).
    op.add_column('responses', sa.Column('order_seed', sa.BigInteger(), nullable=True))
    op.add_column('answers', sa.Column('option_order', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('answers', 'option_order')
    op.drop_column('responses', 'order_seed')
