"""Prometheus metrics: this API process's own, and the service-wide gauges read at scrape time.

Worker processes export theirs through dramatiq's exposition server (port 9191 by default)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.collectors import service_metrics
from api.deps import ContextDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics")
async def metrics(ctx: ContextDep) -> Response:
    service = await run_in_threadpool(service_metrics, ctx)
    return Response(generate_latest() + service, media_type=CONTENT_TYPE_LATEST)
