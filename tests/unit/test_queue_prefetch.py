"""How many messages of each queue a worker process takes at once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pipeline.broker import build_broker
from pipeline.doorbell import DoorbellRedisBroker
from pipeline.settings import Settings

PARSE_QUEUES = ("docs.high", "docs", "docs.low")
VECTORS_QUEUES = ("docs.high.vectors", "docs.vectors", "docs.low.vectors")
#: What dramatiq's worker asks of every queue: twice its threads.
DRAMATIQS = 8


def booted_broker(threads: int | None) -> DoorbellRedisBroker:
    """The pipeline's broker (no connection until first use), told its worker's threads as a
    booting worker tells it."""
    broker = build_broker(Settings(queue_name="docs"))
    assert isinstance(broker, DoorbellRedisBroker)
    if threads is not None:
        broker.emit_before("worker_boot", SimpleNamespace(worker_threads=threads))
    return broker


def prefetches(broker: DoorbellRedisBroker, queues: tuple[str, ...]) -> list[int]:
    return [broker.prefetch_of(queue, DRAMATIQS) for queue in queues]


def test_the_parse_queues_of_every_priority_get_the_parse_prefetch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDFLINE_PARSE_PREFETCH", "3")
    assert prefetches(booted_broker(threads=4), PARSE_QUEUES) == [3, 3, 3]
    assert Settings().parse_prefetch == 3


def test_a_worker_process_takes_one_parse_at_a_time_by_default() -> None:
    """Two parses in one process share its core (the GIL) while another process may stand idle;
    the mixed-corpus benchmark ran 3-5% faster with one (tests/benchmarks/README.md)."""
    assert prefetches(booted_broker(threads=4), PARSE_QUEUES) == [1, 1, 1]


def test_embed_messages_leave_a_thread_for_the_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Embed messages mostly wait on the provider: as many of them as threads left a process's
    core idle while its parse waited for a thread (tests/benchmarks/README.md)."""
    assert prefetches(booted_broker(threads=4), VECTORS_QUEUES) == [3, 3, 3]
    assert prefetches(booted_broker(threads=1), VECTORS_QUEUES) == [1, 1, 1], "never none at all"
    # Two parses in hand (one worker process) share the thread left and any an embed frees: with
    # fewer embeds in hand, one process could not fill the provider's slots (4).
    monkeypatch.setenv("PDFLINE_PARSE_PREFETCH", "2")
    assert prefetches(booted_broker(threads=4), VECTORS_QUEUES) == [3, 3, 3]


def test_the_vectors_prefetch_can_be_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDFLINE_VECTORS_PREFETCH", "6")
    assert prefetches(booted_broker(threads=4), VECTORS_QUEUES) == [6, 6, 6]


def test_outside_a_worker_only_fixed_prefetches_apply() -> None:
    broker = booted_broker(threads=None)
    assert prefetches(broker, VECTORS_QUEUES) == [DRAMATIQS] * 3
    assert prefetches(broker, PARSE_QUEUES) == [1, 1, 1]
    assert broker.prefetch_of("elsewhere", DRAMATIQS) == DRAMATIQS
