"""One Redis subscription per API process, fanned out to every stream connected to it.

Streams never poll the database: they read it once when they start (snapshot or replay), then
wait on their queue here. When the subscription breaks, or a slow stream's queue overflows, the
affected streams are told to ``RESYNC``: they re-read, once, what they missed from the event log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sse_starlette import ServerSentEvent

from pipeline.events import CHANNEL
from pipeline.metrics import EVENTS_FANNED_OUT, SSE_CLIENTS

log = logging.getLogger(__name__)


def encode_frame(name: str, event_id: str | int, data: str, *, retry_ms: int | None = None) -> bytes:
    return ServerSentEvent(data=data, event=name, id=str(event_id), retry=retry_ms).encode()


class Signal(Enum):
    RESYNC = "resync"
    CLOSED = "closed"


Item = dict[str, Any] | Signal


@dataclass(eq=False)
class Subscription:
    document_id: str | None
    queue: asyncio.Queue[Item] = field(default_factory=lambda: asyncio.Queue(maxsize=Subscription.MAX_BACKLOG))

    MAX_BACKLOG = 2000

    def offer(self, item: Item) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            # The stream is too slow to keep up: drop its backlog; it re-reads the log instead.
            self._drain()
            self.queue.put_nowait(Signal.RESYNC)

    def _drain(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()

    async def get(self) -> Item:
        return await self.queue.get()


class EventHub:
    def __init__(self, redis_url: str, channel: str = CHANNEL, reconnect_s: float = 1.0) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.reconnect_s = reconnect_s
        self._by_document: dict[str, set[Subscription]] = {}
        self._everything: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pdfline-event-hub")
        # Streams opened right after startup must not miss events: wait for the first attempt to subscribe.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_attempt.wait(), timeout=5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for subscription in self._all_subscriptions():
            subscription.offer(Signal.CLOSED)

    def subscribe(self, document_id: str | None) -> Subscription:
        subscription = Subscription(document_id)
        if document_id is None:
            self._everything.add(subscription)
        else:
            self._by_document.setdefault(document_id, set()).add(subscription)
        SSE_CLIENTS.inc()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription.document_id is None:
            self._everything.discard(subscription)
        else:
            watchers = self._by_document.get(subscription.document_id, set())
            watchers.discard(subscription)
            if not watchers:
                self._by_document.pop(subscription.document_id, None)
        SSE_CLIENTS.dec()

    @property
    def subscriber_count(self) -> int:
        return len(self._everything) + sum(len(s) for s in self._by_document.values())

    def dispatch(self, message: dict[str, Any]) -> None:
        watchers = self._by_document.get(message["document_id"], ())
        if not watchers and not self._everything:
            return
        # Encoded once here, not once per watcher: with a thousand watchers this is most of the work.
        data = json.dumps(message["data"], separators=(",", ":"))
        if watchers:
            message["frame"] = encode_frame(message["name"], message["seq"], data)
        if self._everything:
            message["global_frame"] = encode_frame(message["name"], f"{message['document_id']}:{message['seq']}", data)
        targets = [*watchers, *self._everything]
        for subscription in targets:
            subscription.offer(message)
        EVENTS_FANNED_OUT.inc(len(targets))

    def _all_subscriptions(self) -> list[Subscription]:
        return [*self._everything, *(s for subs in self._by_document.values() for s in subs)]

    async def _run(self) -> None:
        first = True
        while True:
            client = aioredis.from_url(self.redis_url)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._first_attempt.set()
                if not first:
                    log.info("event subscription restored; streams resynchronise from the log")
                    for subscription in self._all_subscriptions():
                        subscription.offer(Signal.RESYNC)
                first = False
                async for raw in pubsub.listen():
                    if raw.get("type") == "message":
                        self._dispatch_raw(raw["data"])
            except RedisError as exc:
                self._first_attempt.set()
                log.warning("event subscription lost (%s); retrying in %.1fs", exc, self.reconnect_s)
                await asyncio.sleep(self.reconnect_s)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                    await client.aclose()

    def _dispatch_raw(self, data: bytes | str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            log.warning("ignoring a malformed event on %s", self.channel)
            return
        self.dispatch(message)
