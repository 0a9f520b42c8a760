"""consent and timings: the consent version of a response, when each question was first shown, declines counted

Revision ID: 0008_quality
Revises: 0007
Create Date: 2026-12-07 11:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008_quality'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns without a default: ADD COLUMN only, no stored row is rewritten on either database.
    # Responses and answers stored before this have NULL here: no consent asked, no timings.
    with op.batch_alter_table('responses') as batch:
        batch.add_column(sa.Column('consent_version', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('shown_question', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('shown_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('answers') as batch:
        batch.add_column(sa.Column('shown_at', sa.DateTime(timezone=True), nullable=True))
    # Declines of the consent step: one counter per survey and consent version, nothing about who declined.
    op.create_table(
        'consent_declines',
        sa.Column('survey_id', sa.String(length=64), nullable=False),
        sa.Column('consent_version', sa.String(length=64), nullable=False),
        sa.Column('declines', sa.Integer(), nullable=False, server_default=sa.text('0')),
        sa.PrimaryKeyConstraint('survey_id', 'consent_version', name=op.f('pk_consent_declines')),
    )


def downgrade() -> None:
    op.drop_table('consent_declines')
    with op.batch_alter_table('answers') as batch:
        batch.drop_column('shown_at')
    with op.batch_alter_table('responses') as batch:
        batch.drop_column('shown_at')
        batch.drop_column('shown_question')
        batch.drop_column('consent_version')
