"""/stats: the service at a glance, for operators."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from api.auth import require_api_key
from api.deps import ContextDep
from api.stats import service_stats

router = APIRouter(tags=["stats"], dependencies=[Depends(require_api_key)])


@router.get("/stats")
async def stats(ctx: ContextDep) -> dict[str, Any]:
    """Documents by status, each queue's ready, delayed and dead messages, the worker processes
    present, and the last hour's completed and failed documents with their pages and chunks."""
    return await run_in_threadpool(service_stats, ctx)
