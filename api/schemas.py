"""Response shapes: the document state from the pipeline, plus the links only the API knows."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from pipeline.models import Chunk, Document


def document_out(document: Document, request: Request) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    self_url = f"{base}/documents/{document.id}"
    return {
        **document.state(),
        "links": {"self": self_url, "events": f"{self_url}/events", "chunks": f"{self_url}/chunks"},
    }


def chunk_out(chunk: Chunk, *, with_embedding: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "index": chunk.index,
        "text": chunk.text,
        "page_start": chunk.page_start,
        "page_end": chunk.page_end,
        "token_count": chunk.token_count,
    }
    if with_embedding:
        out["embedding"] = chunk.embedding
        out["embedding_model"] = chunk.embedding_model
        out["embedding_dimensions"] = chunk.embedding_dimensions
    return out
