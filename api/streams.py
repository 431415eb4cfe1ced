"""The event streams: snapshot or replay from the event log, then live events from the hub.

A stream subscribes to the hub *before* it reads the database, so nothing published in between
is missed; whatever it reads twice is dropped by id. Ids come from the log (per document, from 1),
so ``Last-Event-ID`` resumes exactly where a client left off.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session, col, select
from starlette.requests import Request

from api.fanout import EventHub, Signal, Subscription, encode_frame
from api.schemas import document_out
from pipeline.context import Context
from pipeline.events import TERMINAL_EVENTS, wire_form
from pipeline.models import Document, Event, Status

#: Sent with the first event: how long (ms) a browser waits before reconnecting.
RETRY_MS = 2000
#: Events read from the log per query when replaying.
REPLAY_PAGE = 1000


def _sse(name: str, event_id: str | int, data: dict[str, Any], *, first: bool = False) -> bytes:
    return encode_frame(name, event_id, json.dumps(data, separators=(",", ":")), retry_ms=RETRY_MS if first else None)


def _document_events_after(ctx: Context, document_id: str, after: int) -> tuple[list[Event], str | None]:
    """The logged events after ``after``, and the document's status (None if it is gone)."""
    with Session(ctx.engine) as session:
        events = list(
            session.exec(
                select(Event).where(Event.document_id == document_id, Event.seq > after).order_by(col(Event.seq))
            )
        )
        document = session.get(Document, document_id)
        return events, document.status if document else None


def _snapshot(ctx: Context, document_id: str) -> tuple[Document | None, Event | None]:
    with Session(ctx.engine) as session:
        document = session.get(Document, document_id)
        if document is None or not Status(document.status).is_terminal:
            return document, None
        terminal = session.exec(
            select(Event)
            .where(Event.document_id == document_id, col(Event.name).in_(TERMINAL_EVENTS))
            .order_by(col(Event.seq).desc())
            .limit(1)
        ).first()
        return document, terminal


@asynccontextmanager
async def _subscribed(hub: EventHub, document_id: str | None, shutdown: anyio.Event) -> AsyncIterator[Subscription]:
    """A hub subscription that is closed when the server shuts down, so streams end cleanly."""
    subscription = hub.subscribe(document_id)

    async def close_on_shutdown() -> None:
        await shutdown.wait()
        subscription.offer(Signal.CLOSED)

    watcher = asyncio.create_task(close_on_shutdown())
    try:
        yield subscription
    finally:
        watcher.cancel()
        hub.unsubscribe(subscription)


@dataclass
class Replayed:
    """One read of the event log, in the hub's wire form."""

    items: list[dict[str, Any]]
    more: bool = False  # another page is waiting: read again at once
    over: bool = False  # nothing more can come: end the stream


async def log_then_live(
    subscription: Subscription,
    replay: Callable[[], Awaitable[Replayed]],
    *,
    replay_first: bool,
    missed: Callable[[dict[str, Any]], bool] = lambda _: False,
) -> AsyncIterator[dict[str, Any]]:
    """The log and the hub as one sequence of events. The log is read first if asked, and again
    whenever the hub says RESYNC or ``missed`` says a live event skipped over something; the
    sequence ends on CLOSED or when a read says nothing more can come. Callers drop repeats by id
    (they see each item before ``replay`` or ``missed`` run again, so those can use their state)."""
    catch_up = replay_first
    while True:
        while catch_up:
            page = await replay()
            for item in page.items:
                yield item
            if page.over:
                return
            catch_up = page.more
        item = await subscription.get()
        if item is Signal.CLOSED:
            return
        if item is Signal.RESYNC or missed(item):
            catch_up = True
            continue
        yield item


async def document_stream(
    ctx: Context,
    hub: EventHub,
    request: Request,
    document_id: str,
    last_event_id: int | None,
    shutdown: anyio.Event,
) -> AsyncIterator[bytes]:
    async with _subscribed(hub, document_id, shutdown) as subscription:
        first = True
        if last_event_id is None:
            document, terminal = await run_in_threadpool(_snapshot, ctx, document_id)
            if document is None:
                return
            snapshot = {"document_id": document.id, **document_out(document, request)}
            yield _sse("snapshot", document.last_event_id, snapshot, first=True)
            first = False
            last = document.last_event_id
            if Status(document.status).is_terminal:
                if terminal is not None:
                    yield _sse(terminal.name, terminal.seq, terminal.data)
                return
        else:
            last = last_event_id

        async def replay() -> Replayed:
            events, status = await run_in_threadpool(_document_events_after, ctx, document_id, last)
            return Replayed([wire_form(e) for e in events], over=status is None or Status(status).is_terminal)

        # Subscribed before the snapshot was read: after a snapshot, live events take it from there.
        events = log_then_live(
            subscription, replay, replay_first=last_event_id is not None, missed=lambda i: int(i["seq"]) > last + 1
        )
        async with aclosing(events):
            async for item in events:
                seq = int(item["seq"])
                if seq <= last:
                    continue
                frame = item.get("frame")
                yield frame if frame and not first else _sse(item["name"], seq, item["data"], first=first)
                first = False
                last = seq
                if item["name"] in TERMINAL_EVENTS:
                    return


def _global_snapshot(ctx: Context, status: str | None) -> tuple[list[Document], Event | None]:
    with Session(ctx.engine) as session:
        query = select(Document).order_by(col(Document.created_at).desc())
        if status is not None:
            query = query.where(Document.status == status)
        else:
            query = query.where(col(Document.status).in_([Status.QUEUED, Status.RUNNING]))
        documents = list(session.exec(query.limit(500)))
        latest = session.exec(select(Event).order_by(col(Event.id).desc()).limit(1)).first()
        return documents, latest


def _global_events_after(ctx: Context, after_pk: int) -> list[Event]:
    with Session(ctx.engine) as session:
        query = select(Event).where(col(Event.id) > after_pk).order_by(col(Event.id)).limit(REPLAY_PAGE)
        return list(session.exec(query))


def _event_pk(ctx: Context, document_id: str, seq: int) -> int | None:
    with Session(ctx.engine) as session:
        return session.exec(select(Event.id).where(Event.document_id == document_id, Event.seq == seq)).first()


def parse_global_id(value: str) -> tuple[str, int] | None:
    document_id, _, seq = value.rpartition(":")
    return (document_id, int(seq)) if document_id and seq.isdigit() else None


async def global_stream(
    ctx: Context,
    hub: EventHub,
    request: Request,
    last_event_id: tuple[str, int] | None,
    status: str | None,
    shutdown: anyio.Event,
) -> AsyncIterator[bytes]:
    """Every document's events, ids ``<document_id>:<n>``; resumes from the logged event it names."""
    sent: dict[str, int] = {}  # per document, the last seq sent: dedup that does not rely on commit order
    first = True

    def wanted(event_data: dict[str, Any]) -> bool:
        return status is None or event_data.get("status") == status

    async with _subscribed(hub, None, shutdown) as subscription:
        after_pk = await run_in_threadpool(_event_pk, ctx, *last_event_id) if last_event_id else None
        if after_pk is None:
            documents, latest = await run_in_threadpool(_global_snapshot, ctx, status)
            snapshot_id = f"{latest.document_id}:{latest.seq}" if latest else ""
            payload = {"documents": [document_out(d, request) for d in documents]}
            yield _sse("snapshot", snapshot_id, payload, first=True)
            first = False
            for document in documents:
                sent[document.id] = document.last_event_id
            after_pk = latest.id if latest and latest.id is not None else 0

        async def replay() -> Replayed:
            events = await run_in_threadpool(_global_events_after, ctx, after_pk)
            return Replayed([wire_form(e) for e in events], more=len(events) == REPLAY_PAGE)

        events = log_then_live(subscription, replay, replay_first=True)
        async with aclosing(events):
            async for item in events:
                document_id, seq = item["document_id"], int(item["seq"])
                after_pk = max(after_pk, int(item.get("pk") or 0))
                if seq <= sent.get(document_id, 0):
                    continue
                sent[document_id] = seq
                if wanted(item["data"]):
                    frame = item.get("global_frame")
                    event_id = f"{document_id}:{seq}"
                    yield frame if frame and not first else _sse(item["name"], event_id, item["data"], first=first)
                    first = False
