"""the option index of answer_choices carries the response id: a filter "question = option" reads it alone

Revision ID: 0014_filter_index
Revises: 0013_answer_counts
Create Date: 2026-12-07 17:55:00
"""
from alembic import op

revision = '0014_filter_index'
down_revision = '0013_answer_counts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The same name, one more column: `responses.id IN (SELECT response_id FROM answer_choices WHERE question_id = ?
    # AND option_id = ?)` (every /stats where, cross-tab and filtered export) no longer looks up each row. Stored rows
    # are not rewritten; only the index is built again.
    op.drop_index('ix_answer_choices_question_option', table_name='answer_choices')
    op.create_index('ix_answer_choices_question_option', 'answer_choices', ['question_id', 'option_id', 'response_id'])


def downgrade() -> None:
    op.drop_index('ix_answer_choices_question_option', table_name='answer_choices')
    op.create_index('ix_answer_choices_question_option', 'answer_choices', ['question_id', 'option_id'])
