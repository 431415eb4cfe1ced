"""A document's embedding batches in flight together, their answers taken in order.

One request at a time made a 300-page document wait for seven round trips in a row; the limit on
requests in flight across workers (``GuardedProvider``) still bounds what the provider sees.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Generic, TypeVar

from pipeline.stages.pacing import Deadline

T = TypeVar("T")
R = TypeVar("R")

#: How often a stage waiting on its batches looks at its deadline (and lets a time limit in).
CHECK_S = 0.25


class ConcurrentCalls(Generic[T, R]):
    """``call(item, closing)`` on each item, at most ``workers`` at once. Iterating yields ``(item, result)`` in
    the items' order; ``close`` cancels what has not started and hands back the answers that
    arrived but were not taken, since a provider's answers are paid for."""

    def __init__(
        self, call: Callable[[T, threading.Event], R], items: Sequence[T], *, workers: int, deadline: Deadline
    ) -> None:
        self.items = items
        self.deadline = deadline
        self.taken = 0
        #: Set once the caller has stopped taking answers: calls not yet under way should not begin.
        self.closing = threading.Event()
        workers = min(workers, len(items))
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="pdfline-batch") if workers > 1 else None
        self._call = call
        # Each call carries the caller's context (the log context names the document).
        self._futures: list[Future[R]] = (
            [self._pool.submit(contextvars.copy_context().run, call, item, self.closing) for item in items]
            if self._pool
            else []
        )

    def __iter__(self) -> Iterator[tuple[T, R]]:
        for index, item in enumerate(self.items):
            self.deadline.check()
            result = self._result(self._futures[index]) if self._pool else self._call(item, self.closing)
            self.taken = index + 1
            yield item, result

    def close(self) -> list[tuple[T, R]]:
        self.closing.set()
        if self._pool is None:
            return []
        for future in self._futures:
            future.cancel()
        self._pool.shutdown(wait=True)
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
