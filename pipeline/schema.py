"""The database schema: Alembic migrations (SQLite and Postgres alike) and pgvector's HNSW indexes.

``upgrade`` is safe to run from several processes at once: they queue on a lock (an advisory lock on
Postgres, a file lock next to a SQLite file) and all but the first find nothing left to do.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: pg_advisory_lock key shared by every process that migrates ("pdfl").
UPGRADE_LOCK_KEY = 0x7064666C
#: pgvector's HNSW index takes vectors of at most this many dimensions.
HNSW_MAX_DIMENSIONS = 2000


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision."""
    with _upgrade_lock(engine), engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@contextmanager
def _upgrade_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": UPGRADE_LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": UPGRADE_LOCK_KEY})
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def vector_index_name(dimensions: int) -> str:
    return f"ix_chunks_embedding_hnsw_{dimensions}"


def vector_index_ready(connection: Connection, dimensions: int) -> bool:
    """Whether vectors of ``dimensions`` can be stored with no index to make first: it exists, or
    there is none to make (SQLite, or more dimensions than HNSW takes). A read, for writers that
    must not run DDL in their transaction."""
    if connection.dialect.name != "postgresql" or dimensions > HNSW_MAX_DIMENSIONS:
        return True
    return (
        connection.execute(text("SELECT to_regclass(:name)"), {"name": vector_index_name(dimensions)}).scalar()
        is not None
    )


def ensure_vector_index(engine: Engine, dimensions: int) -> bool:
    """An HNSW (cosine) index over the chunks whose vectors have ``dimensions``, on Postgres. The
    column has no fixed dimension, so the index is on a cast, one per dimension in use; ``False``
    where there is none to make (SQLite, or more dimensions than HNSW takes)."""
    if engine.dialect.name != "postgresql":
        return False
    if dimensions > HNSW_MAX_DIMENSIONS:
        log.warning(
            "no HNSW index for %d-dimensional vectors (pgvector takes at most %d)", dimensions, HNSW_MAX_DIMENSIONS
        )
        return False
    name = vector_index_name(dimensions)
    statement = text(
        f"CREATE INDEX IF NOT EXISTS {name} ON chunks "
        f"USING hnsw ((embedding::vector({dimensions})) vector_cosine_ops) "
        f"WHERE embedding_dimensions = {dimensions}"
    )
    try:
        with engine.begin() as connection:
            connection.execute(statement)
    except DBAPIError:
        # Another process created it at the same moment; anything else shows in the check below.
        with engine.connect() as connection:
            if not vector_index_ready(connection, dimensions):
                raise
    return True
