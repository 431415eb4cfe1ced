"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import ContextDep
from pipeline.context import Context
from pipeline.queues import live_workers

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(ctx: ContextDep) -> JSONResponse:
    checks = await run_in_threadpool(_checks, ctx)
    down = [name for name, ok in checks.items() if not ok]
    if down:
        body: dict[str, Any] = {
            "error": {"type": "not_ready", "message": f"unavailable: {', '.join(down)}"},
            "checks": checks,
        }
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ready", "checks": checks})


def _checks(ctx: Context) -> dict[str, bool]:
    """Database and Redis answer, and at least one worker process marked itself present lately
    (work would queue up unseen otherwise)."""
    results = {}
    try:
        with ctx.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        results["database"] = True
    except Exception:
        results["database"] = False
    try:
        client = getattr(ctx.broker, "client", None)
        results["redis"] = bool(client.ping()) if client is not None else True
    except Exception:
        results["redis"] = False
    try:
        workers = live_workers(ctx.broker, ctx.settings.worker_heartbeat_timeout_s) if results["redis"] else 0
        results["workers"] = workers is None or workers > 0
    except Exception:
        results["workers"] = False
    return results
