"""When a finished message rings its consumer: only if the consumer may be waiting for a free slot."""

from __future__ import annotations

import threading
from typing import Any

from pipeline.doorbell import DoorbellConsumer


class FakeRedisConsumer:
    """What ``DoorbellConsumer`` uses of dramatiq's Redis consumer: an empty queue, a count of
    messages held and a prefetch."""

    def __init__(self, prefetch: int, held: int) -> None:
        self.prefetch = prefetch
        self.outstanding_message_count = held

    def __next__(self) -> None:
        return None

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
