"""respondents remember the language the bot speaks to them

Revision ID: 0012_respondent_language
Revises: 0011_update_outcome
Create Date: 2026-12-07 11:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0012_respondent_language'
down_revision = '0011_update_outcome'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: the rows already stored stay as they are and read as the questionnaire's default language.
    op.add_column('respondents', sa.Column('language', sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column('respondents', 'language')
