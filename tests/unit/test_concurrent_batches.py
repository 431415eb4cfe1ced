"""A stage's calls in flight together: answers in order, and none paid for and then dropped."""

from __future__ import annotations

import threading
import time

import pytest

from pipeline.errors import StageTimeLimit
from pipeline.stages.concurrent_batches import ConcurrentCalls
from pipeline.stages.pacing import Deadline


def test_answers_come_in_the_order_of_the_items_while_the_calls_overlap() -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def call(item: int, closing: threading.Event) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05 * (5 - item))  # later items answer first
        with lock:
            running -= 1
        return item * 10

    calls = ConcurrentCalls(call, [0, 1, 2, 3, 4], workers=3, deadline=Deadline("embed", 60))
    assert list(calls) == [(0, 0), (1, 10), (2, 20), (3, 30), (4, 40)]
    assert calls.close() == []
    assert most == 3


def test_closing_early_hands_back_the_answers_not_yet_taken_and_starts_nothing_new() -> None:
    started: list[int] = []
    release = threading.Event()

    def call(item: int, closing: threading.Event) -> int:
        started.append(item)
        if item > 0:
            release.wait(5)
        return item

    calls = ConcurrentCalls(call, list(range(10)), workers=2, deadline=Deadline("embed", 60))
    answers = iter(calls)
    assert next(answers) == (0, 0)
    threading.Timer(0.2, release.set).start()
    untaken = calls.close()  # items 1 and 2 are under way: they finish, and are kept
    assert untaken == [(item, item) for item in sorted(started) if item > 0]
    assert len(started) <= 3, "nothing starts after close"


def test_a_failed_call_reaches_the_caller() -> None:
    def call(item: int, closing: threading.Event) -> int:
        if item == 1:
            raise ValueError("refused")
        return item

    calls = ConcurrentCalls(call, [0, 1, 2], workers=3, deadline=Deadline("embed", 60))
    with pytest.raises(ValueError, match="refused"):
        list(calls)
    assert calls.close() == [(2, 2)]


def test_the_stage_deadline_interrupts_the_wait_for_a_slow_answer() -> None:
    calls = ConcurrentCalls(lambda item, closing: closing.wait(10), [0, 1], workers=2, deadline=Deadline("embed", 0.3))
    started = time.monotonic()
    with pytest.raises(StageTimeLimit):
        list(calls)
    assert time.monotonic() - started < 2
    calls.close()  # sets closing: the calls return
