"""At most ``limit`` calls in flight across every worker process, and a freed slot taken at once.

The count is dramatiq's ``ConcurrentRateLimiter`` in Redis (a slot held by a process that died is
freed by its TTL). Its ``acquire`` does not wait, and polling it every 50 ms left each freed slot
unused for 25 ms on average, next to embedding requests of 80 to 130 ms. So each release also drops
a token on a Redis list, and a waiter blocks on that list (``BLPOP``): one release wakes one waiter.
The wait still ends every ``poll_s`` to look at the caller's stop signal and at slots freed by a TTL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import redis
from dramatiq.rate_limits import ConcurrentRateLimiter
from dramatiq.rate_limits.backends import RedisBackend

T = TypeVar("T")


class SlotWaitAbandoned(Exception):
    """The caller stopped waiting before a slot came free."""


class SharedSlots:
    def __init__(self, client: redis.Redis, key: str, *, limit: int, ttl_ms: int, poll_s: float) -> None:
        self.client = client
        self.limit = limit
        self.poll_s = poll_s
        self.limiter = ConcurrentRateLimiter(RedisBackend(client=client), key, limit=limit, ttl=ttl_ms)
        self.freed_key = f"{key}:freed"
        self.freed_ttl_ms = ttl_ms

    def call(self, fn: Callable[[], T], *, abandoned: threading.Event, check: Callable[[], None]) -> T:
        """``fn()`` in a slot. ``check`` runs between waits (it may raise: a deadline); once
        ``abandoned`` is set, a caller still waiting gives up with ``SlotWaitAbandoned``."""
        while True:
            acquired = False
            try:
                with self.limiter.acquire(raise_on_failure=False) as acquired:
                    if acquired:
                        return fn()
            finally:
                if acquired:
                    self._announce_free()
            check()
            if abandoned.is_set():
                raise SlotWaitAbandoned("the caller stopped waiting for a slot")
            self.client.blpop([self.freed_key], timeout=self.poll_s)

    def _announce_free(self) -> None:
        # Tokens nobody waited for are trimmed to one per slot, and expire.
        pipe = self.client.pipeline(transaction=False)
        pipe.rpush(self.freed_key, 1).ltrim(self.freed_key, -self.limit, -1).pexpire(self.freed_key, self.freed_ttl_ms)
        pipe.execute()
