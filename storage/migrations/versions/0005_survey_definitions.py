"""questionnaire definitions, and the definition each response started on

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 16:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'survey_definitions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('survey_id', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('definition', sa.Text(), nullable=False),
        sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('activated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_definitions')),
        sa.UniqueConstraint('digest', name=op.f('uq_survey_definitions_digest')),
    )
    op.create_index(op.f('ix_survey_definitions_survey_id'), 'survey_definitions', ['survey_id'], unique=False)
    # A plain column (no foreign key): adding one would rebuild the responses table on SQLite.
    op.add_column('responses', sa.Column('definition_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('responses') as batch_op:
        batch_op.drop_column('definition_id')
    op.drop_index(op.f('ix_survey_definitions_survey_id'), table_name='survey_definitions')
    op.drop_table('survey_definitions')
