"""A stage's calls in flight together: answers in order, and none paid for and then dropped. The
process's lanes here have no gate (no Redis); ``tests/integration/test_provider_gate.py`` has both."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest
import structlog

from pipeline.errors import EmbeddingRejected, StageTimeLimit
from pipeline.stages.concurrent_batches import ConcurrentCalls
from pipeline.stages.pacing import Deadline
from pipeline.stages.provider_lanes import ProviderLanes
from tests.support.held_calls import FirstHeld


def test_answers_come_in_the_order_of_the_items_while_the_calls_overlap() -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def call(item: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05 * (5 - item))  # later items answer first
        with lock:
            running -= 1
        return item * 10

    calls = ConcurrentCalls(call, [0, 1, 2, 3, 4], submit=ProviderLanes(None, 3).submit, deadline=Deadline("embed", 60))
    assert list(calls) == [(0, 0), (1, 10), (2, 20), (3, 30), (4, 40)]
    assert calls.close() == []
    assert most == 3


def test_without_lanes_the_calls_are_made_in_the_callers_thread() -> None:
    threads: list[threading.Thread] = []
    calls = ConcurrentCalls(
        lambda item: threads.append(threading.current_thread()) or item, [1, 2], submit=None, deadline=Deadline("e", 60)
    )
    assert list(calls) == [(1, 1), (2, 2)]
    assert threads == [threading.current_thread()] * 2


def test_closing_early_hands_back_the_answers_not_yet_taken_and_starts_nothing_new() -> None:
    started: list[int] = []
    release = threading.Event()

    def call(item: int) -> int:
        started.append(item)
        if item > 0:
            release.wait(5)
        return item

    lanes = ProviderLanes(None, 2)
    calls = ConcurrentCalls(call, list(range(10)), submit=lanes.submit, deadline=Deadline("embed", 60))
    answers = iter(calls)
    assert next(answers) == (0, 0)
    threading.Timer(0.2, release.set).start()
    untaken = calls.close()  # items 1 and 2 are under way: they finish, and are kept
    assert untaken == [(item, item) for item in sorted(started) if item > 0]
    assert len(started) <= 3, "nothing starts after close"


def test_a_failed_call_reaches_the_caller() -> None:
    def call(item: int) -> int:
        if item == 1:
            raise ValueError("refused")
        return item

    calls = ConcurrentCalls(call, [0, 1, 2], submit=ProviderLanes(None, 3).submit, deadline=Deadline("embed", 60))
    with pytest.raises(ValueError, match="refused"):
        list(calls)
    assert calls.close() == [(2, 2)]


def test_the_stage_deadline_interrupts_the_wait_for_a_slow_answer() -> None:
    release = threading.Event()
    calls = ConcurrentCalls(
        lambda item: release.wait(10), [0, 1], submit=ProviderLanes(None, 2).submit, deadline=Deadline("embed", 0.3)
    )
    started = time.monotonic()
    with pytest.raises(StageTimeLimit):
        list(calls)
    assert time.monotonic() - started < 2
    release.set()
    calls.close()


def test_lanes_take_each_submitters_batches_in_turn() -> None:
    """A big document's batches do not hold up a small one's: one lane, two submitters."""
    calls = FirstHeld("big-0")
    lanes = ProviderLanes(None, 1)
    big = lanes.submit([calls.call(f"big-{i}") for i in range(3)])
    assert calls.first_sent.wait(10)
    small = lanes.submit([calls.call("small-0")])
    calls.go_on.set()
    assert [f.result(10) for f in big + small] == ["big-0", "big-1", "big-2", "small-0"]
    assert calls.order == ["big-0", "small-0", "big-1", "big-2"]


def test_lanes_end_when_no_batch_is_left_and_start_again_for_the_next() -> None:
    lanes = ProviderLanes(None, 4)
    assert [f.result(10) for f in lanes.submit([lambda i=i: i for i in range(6)])] == list(range(6))
    deadline = time.monotonic() + 10
    while any(t.name == "pdfline-provider-lane" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not [t for t in threading.enumerate() if t.name == "pdfline-provider-lane"], "idle lanes ended"
    assert lanes.submit([lambda: "again"])[0].result(10) == "again"


def test_a_lane_runs_each_batch_in_its_submitters_context() -> None:
    import contextvars

    document: contextvars.ContextVar[str] = contextvars.ContextVar("document")
    document.set("doc-1")
    lanes = ProviderLanes(None, 2)
    futures = lanes.submit([document.get, document.get])
    assert [f.result(10) for f in futures] == ["doc-1", "doc-1"]


def test_closing_does_not_wait_for_the_lanes_to_come_round_to_what_it_canceled() -> None:
    """The one lane is busy with another document's batch: closing returns at once, and the lane
    later skips the canceled batches (an embed stopped by a cancel used to hang here)."""
    held = FirstHeld("other-0")
    lanes = ProviderLanes(None, 1)
    other = lanes.submit([held.call("other-0")])
    assert held.first_sent.wait(10)
    calls = ConcurrentCalls(
        lambda item: held.call(f"mine-{item}")(), [0, 1, 2], submit=lanes.submit, deadline=Deadline("e", 60)
    )
    closing = threading.Thread(target=calls.close)
    closing.start()
    closing.join(10)
    assert not closing.is_alive(), "close waited for batches that never started"
    held.go_on.set()
    assert other[0].result(10) == "other-0"
    assert lanes.submit([lambda: "next"])[0].result(10) == "next"
    assert held.order == ["other-0"], "the canceled batches were not sent"


class MergedRequests:
    """The provider's side of merged requests: each request's inputs, and a rejection of any
    request that holds ``bad``."""

    def __init__(self) -> None:
        self.requests: list[list[str]] = []

    def __call__(self, inputs: Sequence[str]) -> list[str]:
        self.requests.append(list(inputs))
        if "bad" in inputs:
            raise EmbeddingRejected("the provider refused an input")
        return [f"vector of {text}" for text in inputs]

    def alone(self, inputs: Sequence[str]) -> Callable[[], list[str]]:
        return lambda: self(inputs)


def test_batches_waiting_together_go_out_in_one_request_and_each_gets_its_own_answers() -> None:
    """Three small documents wait while the one lane is busy: the next request carries as many of
    their batches as fit ``max_inputs``, in turn, and each document gets only its own vectors."""
    provider, held = MergedRequests(), FirstHeld("first")
    lanes = ProviderLanes(None, 1, merged=provider, max_inputs=5)
    first = lanes.submit([held.call("first")])
    assert held.first_sent.wait(10)
    documents = [["a1", "a2"], ["b1"], ["c1", "c2", "c3"]]
    futures = [lanes.submit([provider.alone(texts)], inputs=[texts])[0] for texts in documents]
    held.go_on.set()
    assert first[0].result(10) == "first"
    assert [f.result(10) for f in futures] == [[f"vector of {t}" for t in texts] for texts in documents]
    assert provider.requests == [["a1", "a2", "b1"], ["c1", "c2", "c3"]], "c's three did not fit with a's and b's"


def test_a_merged_request_the_provider_rejects_is_sent_again_part_by_part() -> None:
    """Only the document whose input the provider refused fails; the others get their vectors."""
    provider, held = MergedRequests(), FirstHeld("first")
    lanes = ProviderLanes(None, 1, merged=provider, max_inputs=64)
    lanes.submit([held.call("first")])
    assert held.first_sent.wait(10)
    documents = [["a1"], ["bad"], ["c1"]]
    futures = [lanes.submit([provider.alone(texts)], inputs=[texts])[0] for texts in documents]
    held.go_on.set()
    assert futures[0].result(10) == ["vector of a1"]
    with pytest.raises(EmbeddingRejected):
        futures[1].result(10)
    assert futures[2].result(10) == ["vector of c1"]
    assert provider.requests == [["a1", "bad", "c1"], ["a1"], ["bad"], ["c1"]]


def test_a_merged_request_logs_with_every_document_it_carries() -> None:
    """Each submitter's log fields reach the request made for it; merged, as lists."""
    seen: list[dict[str, object]] = []

    def provider(inputs: Sequence[str]) -> list[str]:
        seen.append(structlog.contextvars.get_contextvars())
        return list(inputs)

    held = FirstHeld("first")
    lanes = ProviderLanes(None, 1, merged=provider, max_inputs=64)
    lanes.submit([held.call("first")])
    assert held.first_sent.wait(10)
    futures = []
    for document, texts in (("doc-a", ["a1"]), ("doc-b", ["b1", "b2"]), ("doc-a", ["a2"])):
        with structlog.contextvars.bound_contextvars(document_id=document, stage="embed"):
            futures += lanes.submit([lambda texts=texts: provider(texts)], inputs=[texts])
    held.go_on.set()
    assert [f.result(10) for f in futures] == [["a1"], ["b1", "b2"], ["a2"]]
    assert seen == [{"document_ids": ["doc-a", "doc-b"], "stages": ["embed"]}]
    assert structlog.contextvars.get_contextvars() == {}, "the submitter's own context is left as it was"


def test_batches_submitted_without_their_inputs_are_never_merged() -> None:
    provider, held = MergedRequests(), FirstHeld("first")
    lanes = ProviderLanes(None, 1, merged=provider, max_inputs=64)
    lanes.submit([held.call("first")])
    assert held.first_sent.wait(10)
    futures = [lanes.submit([provider.alone([text])])[0] for text in ("a1", "b1")]
    held.go_on.set()
    assert [f.result(10) for f in futures] == [["vector of a1"], ["vector of b1"]]
    assert provider.requests == [["a1"], ["b1"]]
