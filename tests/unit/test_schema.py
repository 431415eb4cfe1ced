"""The migrations build exactly the schema the models describe, and running them twice is harmless."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, inspect

from pipeline.schema import alembic_config, current_revision, head_revision, upgrade


def test_migrations_match_the_models_and_upgrade_is_idempotent(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert {"documents", "pages", "chunks", "embeddings", "events"} <= set(inspect(engine).get_table_names())
    with engine.begin() as connection:
        command.check(alembic_config(connection))  # raises if a model changed without a migration
