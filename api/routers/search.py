"""/search: the chunks nearest in meaning to a query."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from api.auth import require_api_key
from api.deps import ContextDep
from api.search import search

router = APIRouter(tags=["search"], dependencies=[Depends(require_api_key)])


@router.get("/search")
async def search_chunks(
    request: Request,
    ctx: ContextDep,
    q: Annotated[str, Query(min_length=1, max_length=2000, description="What to look for")],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    document_id: str | None = None,
) -> dict[str, Any]:
    """Top-k chunks by cosine similarity to ``q``, with score, document, filename, pages and text."""
    return await run_in_threadpool(search, ctx, request.app.state.exact_index, q, k, document_id)
