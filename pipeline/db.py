"""Engine construction and schema creation; nothing connects until first use."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Engine, Insert, Table, event, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import Session, SQLModel, create_engine

import pipeline.models  # noqa: F401  (registers the tables)
from pipeline.metrics import count_queries
from pipeline.settings import Settings
from pipeline.sqlite_writer import OrderedWritesConnection


def create_db_engine(settings: Settings) -> Engine:
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30, "factory": OrderedWritesConnection}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # Many rows in one statement, not one statement per row: sqlite3 hands the GIL back on every
        # statement, and in a worker whose other threads are parsing, each handback can wait a
        # whole switch interval while this transaction holds the database's only write lock.
        engine.dialect.use_insertmanyvalues_wo_returning = True
    else:
        engine = create_engine(url, pool_pre_ping=True)
    count_queries(engine)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the API read while workers write; the busy timeout turns lock contention into waiting."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def insert_ignoring_duplicates(session: Session, table: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """Insert rows, skipping those whose key is already there: redelivered work writes the same rows.

    A Core statement on the session's connection: the ORM's bulk insert spent as long again
    sorting out rows that are plain dictionaries already."""
    if not rows:
        return
    connection = session.connection()
    connection.execute(_insert_ignoring(table.__table__, connection.dialect.name), rows)  # type: ignore[attr-defined]


def insert_if_new(session: Session, table: type[SQLModel], row: dict[str, Any]) -> bool:
    """Insert one row unless one with the same unique key is there; whether it was inserted. One
    statement where a read first and then an insert took two, and no failed statement to roll back."""
    connection = session.connection()
    statement = _insert_returning_key(table.__table__, connection.dialect.name)  # type: ignore[attr-defined]
    return connection.execute(statement, row).first() is not None


@cache
def _insert_returning_key(table: Table, dialect: str) -> Insert:
    """The key of an inserted row, none of an ignored one: psycopg reports no row count for
    ``ON CONFLICT DO NOTHING``."""
    return _insert_ignoring(table, dialect).returning(*table.primary_key.columns)


@cache
def _insert_ignoring(table: Table, dialect: str) -> Insert:
    if dialect == "postgresql":
        return pg_insert(table).on_conflict_do_nothing()
    return insert(table).prefix_with("OR IGNORE")  # SQLAlchemy sends ON CONFLICT a row at a time; this, in batches
