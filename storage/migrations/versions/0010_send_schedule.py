"""the shared sending budget hands out time slots: the row remembers when the next free slot begins

Revision ID: 0010_send_schedule
Revises: 0009_random_order
Create Date: 2026-12-07 11:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0010_send_schedule'
down_revision = '0009_random_order'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # storage/sendbudget.py: each granted token is a slot 1/rate apart on the database clock, so the workers'
    # sends together never bunch up beyond a small burst (NULL: no slot handed out yet).
    op.add_column('send_budget', sa.Column('next_slot_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('send_budget', 'next_slot_at')
