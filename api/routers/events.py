"""Server-sent event streams: one document's, and everyone's."""

from __future__ import annotations

import random
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.auth import require_api_key
from api.deps import ContextDep
from api.errors import APIError, not_found
from api.fanout import EventHub
from api.streams import document_stream, global_stream, parse_global_id
from pipeline.context import Context
from pipeline.models import Document, Status

router = APIRouter(tags=["events"], dependencies=[Depends(require_api_key)])

#: On shutdown, streams get this long to end on their own before they are cancelled.
SHUTDOWN_GRACE_S = 2.0

LastEventIdHeader = Annotated[str | None, Header(alias="Last-Event-ID")]
LastEventIdQuery = Annotated[str | None, Query(description="For clients that cannot set Last-Event-ID.")]


@router.get("/documents/{document_id}/events")
async def document_events(
    document_id: str,
    request: Request,
    ctx: ContextDep,
    last_event_id_header: LastEventIdHeader = None,
    last_event_id: LastEventIdQuery = None,
) -> EventSourceResponse:
    hub = _hub(request)
    if not await run_in_threadpool(_exists, ctx, document_id):
        raise not_found("document", document_id)
    raw = last_event_id_header or last_event_id
    resume: int | None = None
    if raw not in (None, ""):
        assert raw is not None
        if not raw.isdigit():
            raise APIError(422, "invalid_last_event_id", "Last-Event-ID must be an event id this stream sent")
        resume = int(raw)
    shutdown = anyio.Event()
    return EventSourceResponse(
        document_stream(ctx, hub, request, document_id, resume, shutdown),
        ping=_ping_interval(ctx),
        ping_message_factory=_ping,
        shutdown_event=shutdown,
        shutdown_grace_period=SHUTDOWN_GRACE_S,
    )


@router.get("/events")
async def all_events(
    request: Request,
    ctx: ContextDep,
    status: Status | None = None,
    last_event_id_header: LastEventIdHeader = None,
    last_event_id: LastEventIdQuery = None,
) -> EventSourceResponse:
    hub = _hub(request)
    raw = last_event_id_header or last_event_id
    resume = None
    if raw:
        resume = parse_global_id(raw)
        if resume is None:
            raise APIError(422, "invalid_last_event_id", "Last-Event-ID must look like '<document_id>:<n>'")
    shutdown = anyio.Event()
    return EventSourceResponse(
        global_stream(ctx, hub, request, resume, status.value if status else None, shutdown),
        ping=_ping_interval(ctx),
        ping_message_factory=_ping,
        shutdown_event=shutdown,
        shutdown_grace_period=SHUTDOWN_GRACE_S,
    )


_PING = ServerSentEvent(comment="ping")


def _ping() -> ServerSentEvent:
    return _PING


def _ping_interval(ctx: Context) -> float:
    """Jittered, so a crowd of streams opened together does not ping in one burst (which shows as a
    latency spike for every watcher)."""
    return ctx.settings.sse_ping_s * random.uniform(0.75, 1.25)


def _hub(request: Request) -> EventHub:
    hub: EventHub | None = getattr(request.app.state, "hub", None)
    if hub is None:
        raise APIError(503, "unavailable", "event streams need Redis, which this API process is not using")
    return hub


def _exists(ctx: Context, document_id: str) -> bool:
    with ctx.session() as session:
        return session.get(Document, document_id) is not None
