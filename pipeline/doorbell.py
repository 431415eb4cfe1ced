"""A Redis broker whose idle consumers are woken by new messages instead of polling for them.

dramatiq's Redis consumers find an empty queue, sleep, and look again, the sleep growing up to the
worker timeout: every hop from one stage to the next could wait that long, and a short timeout
makes every idle worker poll Redis many times a second. Here each enqueue also rings a doorbell, a
Redis pub/sub message naming the queue; one thread per worker process listens and wakes that
queue's consumer at once. Polling stays as the fallback, at the worker timeout: a ring missed
while Redis was away, and messages that come back without an enqueue (a dead worker's), are found
by the next poll, so nothing depends on the bell being heard.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import dramatiq
import redis
from dramatiq.broker import Consumer, MessageProxy
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import dq_name
from dramatiq.message import Message
from dramatiq.middleware import Middleware

log = logging.getLogger(__name__)

#: The inner consumer's longest sleep on an empty queue (ms); the wait for the bell replaces it.
INNER_POLL_MS = 1
RECONNECT_S = 1.0
#: While the worker shuts down, consumers look this often whether it is time to stop.
STOPPING_POLL_S = 0.1

#: A queue's prefetch: a number of messages, or a rule that makes one of the worker's thread count.
Prefetch = int | Callable[[int], int]


class DoorbellRedisBroker(RedisBroker):
    """``queue_prefetch`` caps, for the queues it names, how many messages a worker process takes
    at once, in place of dramatiq's one figure for every queue (twice the threads): a number, or a
    rule that makes one of the threads the worker boots with."""

    def __init__(
        self, *, doorbell_channel: str, queue_prefetch: Mapping[str, Prefetch] | None = None, **options: Any
    ) -> None:
        super().__init__(**options)
        self.doorbell_channel = doorbell_channel
        self.queue_prefetch = dict(queue_prefetch or {})
        #: The booting worker's thread count, for the prefetch rules; ``None`` outside a worker.
        self.worker_threads: int | None = None
        self._bells: dict[str, threading.Event] = {}
        self._listener: threading.Thread | None = None
        self._closing = threading.Event()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.add_middleware(_WakeOnShutdown())
        self.add_middleware(_CountThreads())

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        enqueued = super().enqueue(message, delay=delay)
        queue_name = dq_name(message.queue_name) if delay is not None else message.queue_name
        try:
            self.client.publish(self.doorbell_channel, queue_name)
        except redis.RedisError as exc:  # the message is queued; the next poll finds it
            log.debug("could not ring the doorbell for %s: %s", queue_name, exc)
        return enqueued

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        with self._lock:
            bell = self._bells.setdefault(queue_name, threading.Event())
            if self._listener is None:
                self._listener = threading.Thread(target=self._listen, name="pdfline-doorbell", daemon=True)
                self._listener.start()
        inner = super().consume(queue_name, self.prefetch_of(queue_name, prefetch), timeout=INNER_POLL_MS)
        return DoorbellConsumer(inner, bell, idle_s=timeout / 1000, stopping=self.stopping)

    def prefetch_of(self, queue_name: str, default: int) -> int:
        """The queue's prefetch; ``default`` (dramatiq's) for a queue without one, and for a rule
        outside a worker."""
        rule = self.queue_prefetch.get(queue_name, default)
        if callable(rule):
            return rule(self.worker_threads) if self.worker_threads else default
        return rule

    def wake_all(self) -> None:
        with self._lock:
            bells = list(self._bells.values())
        for bell in bells:
            bell.set()

    def close(self) -> None:
        self._closing.set()
        super().close()

    def _listen(self) -> None:
        while not self._closing.is_set():
            try:
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.doorbell_channel)
                try:
                    self._ring_forever(pubsub)
                finally:
                    pubsub.close()
            except redis.RedisError as exc:
                log.debug("doorbell listener lost Redis (%s); consumers poll meanwhile", exc)
                self._closing.wait(RECONNECT_S)

    def _ring_forever(self, pubsub: redis.client.PubSub) -> None:
        while not self._closing.is_set():
            rung = pubsub.get_message(timeout=RECONNECT_S)
            if rung is None:
                continue
            name = rung["data"].decode() if isinstance(rung["data"], bytes) else str(rung["data"])
            bell = self._bells.get(name)
            if bell is not None:
                bell.set()


class DoorbellConsumer(Consumer):
    """The Redis consumer, waiting on its queue's bell when the queue is empty or its prefetch is
    full. A fetch that brings back fewer messages than it had room for has emptied the queue: once
    they are handed out, the consumer waits for a ring before it looks again, where dramatiq's would
    fetch at once and find nothing (a wasted script call for each message of a queue with room to
    spare). A finished message rings only when its consumer was full, so that the freed slot is
    filled at once: after a look that found the queue empty, only a new message (which rings
    itself) is worth a look."""

    def __init__(self, inner: Any, bell: threading.Event, *, idle_s: float, stopping: threading.Event) -> None:
        self.inner = inner  # dramatiq's _RedisConsumer
        self.bell = bell
        self.idle_s = idle_s
        self.stopping = stopping
        #: Whether the last look may have skipped the fetch for want of a free slot.
        self.full = False
        #: Whether the last fetch emptied the queue.
        self.drained = False

    def __next__(self) -> MessageProxy | None:
        inner = self.inner
        if self.drained and not inner.message_cache:
            self.drained = False
            if not self._wait() or self.stopping.is_set():
                return None
        self.bell.clear()  # before looking: a ring while the fetch runs is kept for the wait
        room = inner.prefetch - inner.outstanding_message_count
        # Set before the inner consumer decides to fetch or not, and only worker threads change its
        # count meanwhile, by freeing slots: if it then finds itself full, so did this, and the ack
        # that frees a slot rings.
        self.full = room <= 0
        fetches = room > 0 and not inner.message_cache
        message = next(inner)
        if message is None:
            self._wait()  # the worker's consumer thread sees that it should stop only between two calls
        elif fetches:
            self.drained = 1 + len(inner.message_cache) < room
        return message

    def _wait(self) -> bool:
        """Until the bell rings (``True``), or the idle poll's time (``False``)."""
        return self.bell.wait(STOPPING_POLL_S if self.stopping.is_set() else self.idle_s)

    def ack(self, message: MessageProxy) -> None:
        self.inner.ack(message)
        if self.full:
            self.bell.set()

    def nack(self, message: MessageProxy) -> None:
        self.inner.nack(message)
        if self.full:
            self.bell.set()

    def requeue(self, messages: Iterable[MessageProxy]) -> None:
        self.inner.requeue(messages)

    def close(self) -> None:
        self.inner.close()


class _CountThreads(Middleware):
    """Tells the broker its worker's thread count before any consumer starts."""

    def before_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        if isinstance(broker, DoorbellRedisBroker):
            broker.worker_threads = worker.worker_threads


class _WakeOnShutdown(Middleware):
    """A stopping worker must not wait out its consumers' idle waits."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        if isinstance(broker, DoorbellRedisBroker):
            broker.stopping.clear()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        if isinstance(broker, DoorbellRedisBroker):
            broker.stopping.set()
            broker.wake_all()
