"""indexes for summaries: typed "other" answers, answer times

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 03:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Partial: only answers with a typed "other" text (a few percent of the rows) are indexed.
    op.create_index(
        'ix_answers_other',
        'answers',
        ['question_id'],
        unique=False,
        sqlite_where=sa.text('other_text IS NOT NULL'),
        postgresql_where=sa.text('other_text IS NOT NULL'),
    )
    op.create_index('ix_answers_answered_at', 'answers', ['answered_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_answers_answered_at', table_name='answers')
    op.drop_index('ix_answers_other', table_name='answers')
