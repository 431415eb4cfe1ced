"""Parsed pages and the chunks cut from them, with their vectors once stored."""

from __future__ import annotations

from sqlmodel import Column, Field, Index, SQLModel, Text

from pipeline.models.types import Vector


class Page(SQLModel, table=True):
    """One page's extracted text; kept so a redelivered parse resumes instead of starting over."""

    __tablename__ = "pages"

    document_id: str = Field(primary_key=True, foreign_key="documents.id", ondelete="CASCADE", max_length=36)
    number: int = Field(primary_key=True, description="From 1.")
    text: str = Field(sa_column=Column(Text, nullable=False))
    skipped_reason: str | None = Field(default=None, description="Why pypdf's text for it is missing.")


class Chunk(SQLModel, table=True):
    __tablename__ = "chunks"
    __table_args__ = (
        Index("ix_chunks_unstored", "document_id", "embedding_model"),
        # Which vectors a model has (search's model check, and the exact scan's change detection).
        Index("ix_chunks_model", "embedding_model", "embedding_dimensions"),
    )

    document_id: str = Field(primary_key=True, foreign_key="documents.id", ondelete="CASCADE", max_length=36)
    index: int = Field(primary_key=True, description="From 0, in document order.")
    page_start: int
    page_end: int
    text: str = Field(sa_column=Column(Text, nullable=False))
    token_count: int
    text_sha256: str = Field(max_length=64)
    embedding: list[float] | None = Field(default=None, sa_column=Column(Vector(), nullable=True))
    embedding_model: str | None = Field(default=None, max_length=200)
    embedding_dimensions: int | None = None
