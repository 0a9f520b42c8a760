"""Alembic environment: runs on the connection handed over by ``storage.migrate``."""

from alembic import context

from storage.models import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")

if connection is None:
    raise RuntimeError("run migrations through `surveybot migrate` (storage.migrate.upgrade)")

context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
