"""The one typed settings object, read from ``PDFLINE_*`` (and ``OPENAI_*``) environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import limits
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: The openai SDK waits at most this long between its own retries (``Retry-After`` aside).
OPENAI_SDK_MAX_RETRY_DELAY_S = 8.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PDFLINE_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = Field(default=None, description="Defaults to a SQLite file in data_dir.")
    redis_url: str | None = Field(default=None, description="Unset: `pdfline up` starts a local Redis.")
    queue_name: str = "pdfline"

    max_upload_mb: float = Field(default=100.0, gt=0)
    max_files_per_upload: int = Field(default=20, ge=1)
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Comma-separated keys the API requires; empty: no auth (local use)."
    )
    upload_rate_limit: str | None = Field(
        default=None, description='Uploads per client, e.g. "60/minute" or "1000/day"; unset: no limit.'
    )

    embedding_provider: Literal["openai", "hashing"] | None = Field(
        default=None, description="Unset: openai when OPENAI_API_KEY or OPENAI_BASE_URL is set, else hashing."
    )
    embedding_model: str | None = None
    embedding_dimensions: int | None = Field(default=None, ge=1, le=16000)
    embedding_batch_size: int = Field(default=64, ge=1, le=2048)
    embedding_timeout_s: float = Field(default=30.0, gt=0)
    embedding_max_retries: int = Field(default=2, ge=0, le=10)
    embedding_concurrency: int = Field(
        default=4, ge=1, description="Embedding requests in flight at once, across every worker process."
    )
    circuit_failure_threshold: int = Field(
        default=5, ge=1, description="Failed embedding calls in a row, across workers, that open the circuit."
    )
    circuit_open_s: float = Field(default=30.0, gt=0, description="How long an open circuit stops embedding calls.")
    provider_max_wait_s: float = Field(
        default=1800.0,
        gt=0,
        description="How long a document waits behind an open circuit before failing with embedding_unavailable.",
    )
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "PDFLINE_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "PDFLINE_OPENAI_BASE_URL")
    )

    search_ef_search: int = Field(
        default=200, ge=1, le=1000, description="pgvector's hnsw.ef_search: candidates per search (recall vs speed)."
    )

    chunk_size: int = Field(default=200, ge=8, description="Tokens (whitespace-separated words) per chunk.")
    chunk_overlap: int = Field(default=40, ge=0)

    parse_range_pages: int = Field(
        default=500,
        ge=1,
        description="The most pages one parse message reads: a big document is split into a range per worker "
        "process free to take one, of 100 pages at least and of this many at most.",
    )
    parse_prefetch: int = Field(
        default=1,
        ge=1,
        description="Parse messages a worker process takes from each parse queue at once. Parsing holds the GIL, so "
        "two in one process share its core while another process may have none: 1 keeps the rest in Redis for "
        "whichever process is free. With a single worker process, 2 lets a PDF with slow pages share the core "
        "instead of holding up every other parse.",
    )
    vectors_prefetch: int | None = Field(
        default=None,
        ge=1,
        description="Embed and store messages a worker process takes from each .vectors queue at once. By default all "
        "its threads but one: those messages mostly wait on the provider, and with every thread of a process "
        "waiting there, its core stood idle while parses queued.",
    )
    page_time_limit_s: float = Field(default=30.0, gt=0, description="A page taking longer is skipped and recorded.")
    max_pages: int = Field(default=5000, ge=1, description="Documents with more pages fail with too_many_pages.")
    max_stream_mb: float = Field(
        default=64.0, gt=0, description="The most one PDF stream may decompress to; bigger ones skip their page."
    )

    parse_time_limit_s: float = Field(default=600.0, gt=0)
    embed_time_limit_s: float = Field(default=900.0, gt=0)
    store_time_limit_s: float = Field(default=300.0, gt=0)
    max_retries: int = Field(default=5, ge=0, le=50)
    retry_min_backoff_s: float = Field(default=2.0, gt=0)
    retry_max_backoff_s: float = Field(default=120.0, gt=0)

    progress_interval_s: float = Field(default=0.25, ge=0, description="At most one progress write per interval.")
    sse_ping_s: float = Field(default=15.0, gt=0, description="Keep-alive comment interval on event streams.")
    heartbeat_s: float = Field(default=5.0, gt=0, description="How often a worker marks the documents it holds.")
    stalled_after_s: float = Field(default=60.0, gt=0, description="A running document silent this long is stalled.")
    max_recoveries: int = Field(default=3, ge=0, description="Re-enqueues of a stalled document before it fails.")
    worker_heartbeat_timeout_s: float = Field(
        default=60.0, gt=0, description="Dramatiq's own: a worker process silent this long is considered dead."
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: readable in a terminal, JSON lines otherwise."
    )

    cleanup_cron: str = "0 * * * *"
    recovery_cron: str = "* * * * *"
    schedule_skip_after_s: float = Field(default=30.0, gt=0, description="A tick this late is skipped (and logged).")
    file_retention_days: float = Field(default=30.0, ge=0, description="Stored PDFs of finished documents.")
    event_retention_days: float = Field(default=7.0, ge=0, description="Event log of finished documents.")
    failed_retention_days: float = Field(default=30.0, ge=0, description="Failed and canceled documents.")
    orphan_grace_s: float = Field(default=3600.0, ge=0, description="Age before a stray upload file is removed.")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("upload_rate_limit")
    @classmethod
    def _check_rate(cls, value: str | None) -> str | None:
        if value:
            try:
                limits.parse(value)
            except ValueError as exc:
                raise ValueError(f'not a rate like "60/minute": {value!r}') from exc
        return value or None

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("PDFLINE_CHUNK_OVERLAP must be smaller than PDFLINE_CHUNK_SIZE")
        if self.retry_min_backoff_s > self.retry_max_backoff_s:
            raise ValueError("PDFLINE_RETRY_MIN_BACKOFF_S must not exceed PDFLINE_RETRY_MAX_BACKOFF_S")
        if self.resolved_embedding_provider == "openai":
            worst_call = self.embedding_timeout_s * (self.embedding_max_retries + 1) + (
                OPENAI_SDK_MAX_RETRY_DELAY_S * self.embedding_max_retries
            )
            if self.embed_time_limit_s <= worst_call:
                raise ValueError(
                    f"PDFLINE_EMBED_TIME_LIMIT_S ({self.embed_time_limit_s:g}) must exceed the embedding "
                    f"client's worst case of {worst_call:g}s (timeout x attempts + backoff), "
                    "so the client gives up before the stage is interrupted"
                )
        return self

    @property
    def resolved_embedding_provider(self) -> Literal["openai", "hashing"]:
        if self.embedding_provider is not None:
            return self.embedding_provider
        return "openai" if (self.openai_api_key or self.openai_base_url) else "hashing"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'pdfline.db').resolve()}"

    @property
    def longest_embedding_call_s(self) -> float:
        """The longest one embedding call may take, its retries included, with a margin: how long a
        provider slot held by a worker that died stays taken."""
        return self.embedding_timeout_s * (self.embedding_max_retries + 1) + 60

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def incoming_dir(self) -> Path:
        """Half-written uploads live here until they are validated and moved into ``uploads_dir``."""
        return self.data_dir / "incoming"

    @property
    def max_stream_bytes(self) -> int:
        return int(self.max_stream_mb * 1024 * 1024)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def stage_time_limit_s(self, stage: str) -> float:
        return {
            "parse": self.parse_time_limit_s,
            "embed": self.embed_time_limit_s,
            "store": self.store_time_limit_s,
        }[stage]

    def stage_hard_time_limit_ms(self, stage: str) -> int:
        """When dramatiq's TimeLimit interrupts the thread: the backstop for code that never reaches a
        checkpoint (a page that hangs pypdf). Stages stop themselves at the plain limit first, at a
        boundary, because an asynchronous exception can land inside a database transaction."""
        limit = self.stage_time_limit_s(stage)
        return int((limit + min(max(2.0, limit * 0.1), 60.0)) * 1000)
