"""At most ``limit`` calls in flight across every worker process, and a freed slot taken at once.

The slots are a sorted set in Redis: one member per holder, scored by when its hold expires, so a
holder that died (a killed worker) loses its slot after ``ttl_ms`` whatever the others do. Taking a
slot is one script (drop the expired holders, count, add); letting it go is one pipelined round
trip. dramatiq's ``ConcurrentRateLimiter``, used before, kept one counter whose TTL every other
caller's acquire and release renewed: under steady traffic a dead holder's slot never came back,
and each call cost seven round trips where these take two.

A waiter blocks on a Redis list (``BLPOP``) that each release pushes a token onto, so one release
wakes one waiter; the wait still ends every ``poll_s`` to look at the caller's stop signal and at
slots freed by expiry.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import TypeVar

import redis

T = TypeVar("T")

# KEYS: the holders; ARGV: this holder, its hold in ms, the limit. Redis's own clock, so that worker
# hosts whose clocks disagree still agree on who expired.
_TAKE = """
if redis.replicate_commands then redis.replicate_commands() end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


class SlotWaitAbandoned(Exception):
    """The caller stopped waiting before a slot came free."""


class SharedSlots:
    def __init__(self, client: redis.Redis, key: str, *, limit: int, ttl_ms: int, poll_s: float) -> None:
        self.client = client
        self.limit = limit
        self.ttl_ms = ttl_ms
        self.poll_s = poll_s
        self.holders_key = key
        self.freed_key = f"{key}:freed"
        self._take = client.register_script(_TAKE)

    def call(self, fn: Callable[[], T], *, abandoned: threading.Event, check: Callable[[], None]) -> T:
        """``fn()`` in a slot. ``check`` runs between waits (it may raise: a deadline); once
        ``abandoned`` is set, a caller still waiting gives up with ``SlotWaitAbandoned``."""
        holder = uuid.uuid4().hex
        while not self._take(keys=[self.holders_key], args=[holder, self.ttl_ms, self.limit]):
            check()
            if abandoned.is_set():
                raise SlotWaitAbandoned("the caller stopped waiting for a slot")
            self.client.blpop([self.freed_key], timeout=self.poll_s)
        try:
            return fn()
        finally:
            self._release(holder)

    def _release(self, holder: str) -> None:
        # Tokens nobody waited for are trimmed to one per slot, and expire.
        pipe = self.client.pipeline(transaction=False)
        pipe.zrem(self.holders_key, holder)
        pipe.rpush(self.freed_key, 1).ltrim(self.freed_key, -self.limit, -1).pexpire(self.freed_key, self.ttl_ms)
        pipe.execute()
