"""Column types that behave the same on SQLite and Postgres."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pgvector.sqlalchemy import VECTOR
from sqlalchemy import DateTime, LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always hands back timezone-aware datetimes (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if dialect.name != "sqlite" else value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Vector(TypeDecorator[list[float]]):
    """An embedding: a pgvector ``vector`` on Postgres, packed float32 bytes on SQLite.

    The column has no fixed dimension (a model change must not need a migration); the HNSW index
    is per dimension, on a cast of the column (see ``pipeline.schema``)."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(VECTOR())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: Sequence[float] | None, dialect: Dialect) -> bytes | list[float] | None:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return list(value)
        return array("f", value).tobytes()

    def process_result_value(self, value: bytes | list[float] | None, dialect: Dialect) -> list[float] | None:
        if value is None or isinstance(value, list):
            return value
        vector = array("f")
        vector.frombytes(value)
        return vector.tolist()


def utcnow() -> datetime:
    return datetime.now(UTC)
