"""A document's embedding batches in flight together, their answers taken in order.

One request at a time made a 300-page document wait for seven round trips in a row; the batches go
to the process's provider lanes (``pipeline.stages.provider_lanes``), whose slots bound what the
provider sees across workers.
"""

from __future__ import annotations

import concurrent.futures
import functools
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Generic, TypeVar

from pipeline.stages.pacing import Deadline

T = TypeVar("T")
R = TypeVar("R")

#: How often a stage waiting on its batches looks at its deadline (and lets a time limit in).
CHECK_S = 0.25

Submit = Callable[[Sequence[Callable[[], R]]], list[Future[R]]]


class ConcurrentCalls(Generic[T, R]):
    """``call(item)`` on each item, through ``submit`` (``ProviderLanes.submit``), or one after the
    other in the caller's thread without it. Iterating yields ``(item, result)`` in the items' order;
    ``close`` cancels what has not started and hands back the answers that arrived but were not
    taken, since a provider's answers are paid for."""

    def __init__(
        self, call: Callable[[T], R], items: Sequence[T], *, submit: Submit[R] | None, deadline: Deadline
    ) -> None:
        self.items = items
        self.deadline = deadline
        self.taken = 0
        self._call = call
        self._futures = submit([functools.partial(call, item) for item in items]) if submit else None

    def __iter__(self) -> Iterator[tuple[T, R]]:
        for index, item in enumerate(self.items):
            self.deadline.check()
            result = self._result(self._futures[index]) if self._futures is not None else self._call(item)
            self.taken = index + 1
            yield item, result

    def close(self) -> list[tuple[T, R]]:
        if self._futures is None:
            return []
        under_way = [future for future in self._futures if not future.cancel()]
        concurrent.futures.wait(under_way)
        return [
            (item, future.result())
            for item, future in list(zip(self.items, self._futures, strict=True))[self.taken :]
            if not future.cancelled() and future.exception() is None
        ]

    def _result(self, future: Future[R]) -> R:
        # Waiting in short steps: a thread blocked in one long wait cannot be interrupted.
        while True:
            try:
                return future.result(timeout=CHECK_S)
            except FutureTimeout:
                self.deadline.check()
