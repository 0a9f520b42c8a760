"""the shared sending budget remembers that a respondent's reply is waiting on some worker

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 21:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Until this moment, bulk takes on every worker get nothing (storage/sendbudget.py): priorities across workers.
    op.add_column('send_budget', sa.Column('interactive_until', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('send_budget', 'interactive_until')
