"""When the doorbell consumer looks at its queue: a finished message rings it only if it may be
waiting for a free slot, and a fetch that emptied the queue is not followed by one that finds nothing."""

from __future__ import annotations

import threading
from typing import Any

from pipeline.doorbell import DoorbellConsumer


class FakeRedisConsumer:
    """What ``DoorbellConsumer`` uses of dramatiq's Redis consumer, which takes what it has fetched
    before it fetches again, and fetches only with a free slot: as many as it has room for."""

    def __init__(self, prefetch: int, held: int, queue: list[str] | None = None) -> None:
        self.prefetch = prefetch
        self.outstanding_message_count = held
        self.queue = queue if queue is not None else []
        self.message_cache: list[str] = []
        self.fetches = 0

    def __next__(self) -> str | None:
        if not self.message_cache:
            room = self.prefetch - self.outstanding_message_count
            if room <= 0:
                return None
            self.fetches += 1
            self.message_cache, self.queue = self.queue[:room], self.queue[room:]
            if not self.message_cache:
                return None
        self.outstanding_message_count += 1
        return self.message_cache.pop(0)

    def ack(self, message: Any) -> None:
        self.outstanding_message_count -= 1

    def nack(self, message: Any) -> None:
        self.outstanding_message_count -= 1


def consumer_after_a_look(prefetch: int, held: int) -> tuple[DoorbellConsumer, threading.Event]:
    bell = threading.Event()
    consumer = DoorbellConsumer(FakeRedisConsumer(prefetch, held), bell, idle_s=0, stopping=threading.Event())
    assert next(consumer) is None  # looked, found nothing to take, and waited (for no time)
    return consumer, bell


def test_a_message_finished_by_a_full_consumer_rings_it() -> None:
    consumer, bell = consumer_after_a_look(prefetch=1, held=1)
    consumer.ack(object())  # type: ignore[arg-type]
    assert bell.is_set()


def test_a_message_failed_by_a_full_consumer_rings_it() -> None:
    consumer, bell = consumer_after_a_look(prefetch=2, held=2)
    consumer.nack(object())  # type: ignore[arg-type]
    assert bell.is_set()


def test_a_message_finished_by_a_consumer_with_room_does_not_ring_it() -> None:
    """Its last look found the queue empty; a new message rings by itself, so looking again now would
    be a fetch that finds nothing."""
    consumer, bell = consumer_after_a_look(prefetch=2, held=1)
    consumer.ack(object())  # type: ignore[arg-type]
    assert not bell.is_set()


def test_after_a_fetch_that_emptied_the_queue_the_consumer_waits_for_a_ring_to_look_again() -> None:
    """Room for 4, one message there: the queue is empty after that fetch, so the next look waits for
    the bell instead of fetching nothing; a new message rings, and is fetched at once."""
    inner = FakeRedisConsumer(prefetch=4, held=0, queue=["first"])
    bell = threading.Event()
    consumer = DoorbellConsumer(inner, bell, idle_s=0, stopping=threading.Event())
    assert next(consumer) == "first"
    assert next(consumer) is None
    assert inner.fetches == 1
    inner.queue.append("second")
    bell.set()
    assert next(consumer) == "second"
    assert inner.fetches == 2


def test_after_a_fetch_that_filled_its_room_the_consumer_looks_again_at_once() -> None:
    """More may be waiting: the next look fetches without a ring."""
    inner = FakeRedisConsumer(prefetch=2, held=0, queue=["a", "b", "c"])
    consumer = DoorbellConsumer(inner, threading.Event(), idle_s=0, stopping=threading.Event())
    assert [next(consumer), next(consumer)] == ["a", "b"]
    consumer.ack(object())  # type: ignore[arg-type]
    assert next(consumer) == "c"
    assert inner.fetches == 2


def test_a_consumer_that_emptied_its_queue_looks_again_after_the_idle_poll() -> None:
    """A message back in the queue without a ring (a dead worker's) is still found: by the look after
    the wait for the bell has timed out."""
    inner = FakeRedisConsumer(prefetch=4, held=0, queue=["first"])
    consumer = DoorbellConsumer(inner, threading.Event(), idle_s=0, stopping=threading.Event())
    assert next(consumer) == "first"
    inner.queue.append("requeued")
    assert next(consumer) is None  # the wait for a ring timed out: back to the worker, which calls again
    assert next(consumer) == "requeued"
