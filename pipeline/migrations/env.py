"""Alembic's entry point. Run through ``pipeline.schema.upgrade`` (``pdfline db upgrade``), which
hands over a connection; there is no alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import pipeline.models  # noqa: F401  (registers the tables)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `pdfline db upgrade`")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
