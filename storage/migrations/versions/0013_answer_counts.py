"""answer counts kept per survey, question and value (the full /stats reads them instead of every answer)

Revision ID: 0013_answer_counts
Revises: 0012_respondent_language
Create Date: 2026-12-07 17:45:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0013_answer_counts'
down_revision = '0012_respondent_language'
branch_labels = None
depends_on = None

# The tables as this revision knows them (the backfill must not follow later model changes).
_responses = sa.table('responses', sa.column('id', sa.Integer), sa.column('survey_id', sa.String))
_answers = sa.table('answers', sa.column('response_id', sa.Integer), sa.column('question_id', sa.String),
                    sa.column('number', sa.BigInteger), sa.column('skipped', sa.Boolean))
_choices = sa.table('answer_choices', sa.column('response_id', sa.Integer), sa.column('question_id', sa.String),
                    sa.column('option_id', sa.String))
_counts = sa.table('answer_counts', sa.column('survey_id', sa.String), sa.column('question_id', sa.String),
                   sa.column('kind', sa.String), sa.column('value', sa.String), sa.column('n', sa.BigInteger))


def _backfill() -> None:
    """One INSERT ... SELECT per kind (storage/answer_counts.py): no stored row is read into Python or rewritten."""
    r, a, c = _responses, _answers, _choices
    answers = a.join(r, r.c.id == a.c.response_id)
    grouped = [
        sa.select(r.c.survey_id, a.c.question_id, sa.literal('s'), sa.literal(''), sa.func.count())
        .select_from(answers).where(a.c.skipped == sa.true()).group_by(r.c.survey_id, a.c.question_id),
        sa.select(r.c.survey_id, a.c.question_id, sa.literal('n'), sa.literal(''), sa.func.count())
        .select_from(answers).where(a.c.skipped == sa.false()).group_by(r.c.survey_id, a.c.question_id),
        sa.select(r.c.survey_id, a.c.question_id, sa.literal('v'), sa.cast(a.c.number, sa.String), sa.func.count())
        .select_from(answers).where(a.c.skipped == sa.false(), a.c.number.is_not(None))
        .group_by(r.c.survey_id, a.c.question_id, a.c.number),
        sa.select(r.c.survey_id, c.c.question_id, sa.literal('o'), c.c.option_id, sa.func.count())
        .select_from(c.join(r, r.c.id == c.c.response_id)).group_by(r.c.survey_id, c.c.question_id, c.c.option_id),
    ]
    for stmt in grouped:
        op.execute(_counts.insert().from_select(['survey_id', 'question_id', 'kind', 'value', 'n'], stmt))


def upgrade() -> None:
    # A new table only; the answers stay as they are and are counted once here.
    op.create_table(
        'answer_counts',
        sa.Column('survey_id', sa.String(length=64), nullable=False),
        sa.Column('question_id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=1), nullable=False),
        sa.Column('value', sa.String(length=64), nullable=False),
        sa.Column('n', sa.BigInteger(), nullable=False, server_default=sa.text('0')),
        sa.PrimaryKeyConstraint('survey_id', 'question_id', 'kind', 'value', name=op.f('pk_answer_counts')),
    )
    _backfill()


def downgrade() -> None:
    op.drop_table('answer_counts')
