"""The per-document event log that SSE streams replay from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import JSON, Column, Field, SQLModel, UniqueConstraint

from pipeline.models.types import UTCDateTime, utcnow


class Event(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("document_id", "seq", name="uq_events_document_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    document_id: str = Field(index=True, max_length=36)
    seq: int = Field(description="Increases per document from 1; the SSE event id.")
    name: str = Field(max_length=16)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
