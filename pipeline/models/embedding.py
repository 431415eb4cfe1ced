"""Vectors by (model, dimensions, text hash): embed writes here, store copies into chunks."""

from __future__ import annotations

from sqlmodel import Column, Field, SQLModel

from pipeline.models.types import Vector


class CachedEmbedding(SQLModel, table=True):
    """Keeps messages free of vectors and means the same text is never paid for twice."""

    __tablename__ = "embeddings"

    model: str = Field(primary_key=True, max_length=200)
    dimensions: int = Field(primary_key=True)
    text_sha256: str = Field(primary_key=True, max_length=64)
    vector: list[float] = Field(sa_column=Column(Vector(), nullable=False))
