"""A document: one uploaded PDF and where it stands in the pipeline."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel import Column, Field, SQLModel

from pipeline.models.types import UTCDateTime, utcnow


class Status(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in (Status.COMPLETED, Status.FAILED, Status.CANCELED)


class Stage(StrEnum):
    PARSE = "parse"
    EMBED = "embed"
    STORE = "store"


#: How much of the bar each stage fills; parsing and embedding dominate the work.
STAGE_WEIGHTS = {Stage.PARSE: 0.4, Stage.EMBED: 0.4, Stage.STORE: 0.2}


def _new_id() -> str:
    return str(uuid.uuid4())


def _timestamp_column(*, nullable: bool) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class Document(SQLModel, table=True):
    __tablename__ = "documents"

    id: str = Field(default_factory=_new_id, primary_key=True, max_length=36)
    filename: str = Field(max_length=255)
    sha256: str = Field(index=True, unique=True, max_length=64)
    size_bytes: int
    status: str = Field(default=Status.QUEUED, index=True, max_length=16)
    priority: str = Field(default="normal", max_length=8, description="high, normal or low: which queues it uses.")
    stage: str | None = Field(default=None, max_length=16)
    pages_total: int = 0
    pages_parsed: int = 0
    pages_without_text: int = Field(default=0, description="Pages that yielded no text: scans, images, blanks.")
    pages_skipped: int = Field(default=0, description="Pages pypdf could not read in time or within limits.")
    chunks_total: int = 0
    chunks_embedded: int = 0
    chunks_stored: int = 0
    attempts: int = 0
    error_type: str | None = Field(default=None, max_length=64)
    error_message: str | None = None
    last_event_id: int = 0
    recoveries: int = Field(default=0, description="Times recovery re-enqueued it after its worker went silent.")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    started_at: datetime | None = _timestamp_column(nullable=True)
    finished_at: datetime | None = _timestamp_column(nullable=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    heartbeat_at: datetime | None = _timestamp_column(nullable=True)

    @property
    def progress(self) -> float:
        """0..1 from the counters: each stage fills its share as its counter approaches its total."""
        if self.status == Status.COMPLETED:
            return 1.0
        parse = self.pages_parsed / self.pages_total if self.pages_total else 0.0
        embed = self.chunks_embedded / self.chunks_total if self.chunks_total else 0.0
        store = self.chunks_stored / self.chunks_total if self.chunks_total else 0.0
        value = (
            STAGE_WEIGHTS[Stage.PARSE] * parse + STAGE_WEIGHTS[Stage.EMBED] * embed + STAGE_WEIGHTS[Stage.STORE] * store
        )
        return round(min(value, 0.999), 4)

    @property
    def error(self) -> dict[str, str] | None:
        if self.error_type is None:
            return None
        return {"type": self.error_type, "message": self.error_message or ""}

    def state(self) -> dict[str, Any]:
        """The public state shared by the HTTP API and the event stream."""
        return {
            "id": self.id,
            "filename": self.filename,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "status": self.status,
            "priority": self.priority,
            "stage": self.stage,
            "pages_total": self.pages_total,
            "pages_parsed": self.pages_parsed,
            "pages_without_text": self.pages_without_text,
            "pages_skipped": self.pages_skipped,
            "chunks_total": self.chunks_total,
            "chunks_embedded": self.chunks_embedded,
            "chunks_stored": self.chunks_stored,
            "progress": self.progress,
            "attempts": self.attempts,
            "error": self.error,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "updated_at": _iso(self.updated_at),
            "last_event_id": self.last_event_id,
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
