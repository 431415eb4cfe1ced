"""Operator actions: run a scheduled job now."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from api.auth import require_api_key
from api.deps import ContextDep
from pipeline.jobs import run_job
from pipeline.jobs.cleanup import run_cleanup

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_api_key)])


@router.post("/cleanup")
async def cleanup_now(ctx: ContextDep) -> dict[str, int]:
    """Runs the cleanup job once, here, and answers with what it removed."""
    return await run_in_threadpool(run_job, ctx, "cleanup", run_cleanup)
