"""The gate every embedding request passes, shared by all worker processes through Redis: a circuit
breaker and a limit on requests in flight, checked together in one script and let go together in
one pipelined round trip.

- **Circuit.** After ``threshold`` failed requests in a row (each one already retried by the SDK),
  the circuit opens for ``open_s``: callers are refused with how long to wait, so embed work waits
  out an outage instead of spending its retries. When the time is up, one caller at a time probes;
  its success closes the circuit, its failure opens it again.
- **Slots.** At most ``limit`` requests in flight: a sorted set of holders, each scored by when its
  hold expires, so a holder that died (a killed worker) loses its slot after ``hold_ms`` whatever
  the others do. dramatiq's ``ConcurrentRateLimiter``, used before, kept one counter whose TTL every
  caller renewed: under steady traffic a dead holder's slot never came back.
- A caller with no free slot blocks on a Redis list (``BLPOP``) that each release pushes a token
  onto, so one release wakes one waiter; the wait still ends every ``poll_s`` to look at the
  caller's stop signal and at slots freed by expiry.

Asking the circuit, taking a slot, letting it go and closing the circuit were four round trips
around each request, as two modules; they are two (see the README's benchmark for what it saved).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import TypeVar

import redis

T = TypeVar("T")

#: How long other callers wait while one probes a circuit that has just reopened.
PROBE_WAIT_S = 2.0

# KEYS: holders, circuit open, failures, probe. ARGV: this holder, its hold (ms, the probe's too), the
# limit, the failure threshold, the wait while another probes (ms). Returns {1, 0, 0} with a slot
# taken, {1, 0, 1} with a slot taken as the probe; {0, ms, 0} refused by the circuit for ms; {0, 0, 0}
# no slot free. Redis's own clock, so worker hosts whose clocks disagree still agree on who expired.
_ENTER = """
if redis.replicate_commands then redis.replicate_commands() end
local open_ms = redis.call('PTTL', KEYS[2])
if open_ms > 0 then
  return {0, open_ms, 0}
end
local probing = tonumber(redis.call('GET', KEYS[3]) or '0') >= tonumber(ARGV[4])
if probing and redis.call('EXISTS', KEYS[4]) == 1 then
  return {0, tonumber(ARGV[5]), 0}
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return {0, 0, 0}
end
if probing then
  redis.call('SET', KEYS[4], 1, 'PX', ARGV[2])
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, 0, probing and 1 or 0}
"""


class CircuitOpen(Exception):
    """The provider is failing for everyone: the stage waits ``wait_s`` and comes back."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"the embedding provider failed repeatedly; waiting {wait_s:.1f}s for it")
        self.wait_s = wait_s


class SlotWaitAbandoned(Exception):
    """The caller stopped waiting before a slot came free."""


class ProviderGate:
    def __init__(
        self,
        client: redis.Redis,
        *,
        slots_key: str,
        circuit_key: str,
        limit: int,
        hold_ms: int,
        poll_s: float,
        threshold: int,
        open_s: float,
    ) -> None:
        self.client = client
        self.limit = limit
        self.hold_ms = hold_ms
        self.poll_s = poll_s
        self.threshold = threshold
        self.open_ms = int(open_s * 1000)
        self.holders_key = slots_key
        self.freed_key = f"{slots_key}:freed"
        self.open_key = f"{circuit_key}:open"
        self.failures_key = f"{circuit_key}:failures"
        self.probe_key = f"{circuit_key}:probe"
        self._keys = [self.holders_key, self.open_key, self.failures_key, self.probe_key]
        self._enter = client.register_script(_ENTER)

    def call(self, fn: Callable[[], T], *, abandoned: threading.Event, check: Callable[[], None]) -> T:
        """``fn()`` once the circuit lets it through and a slot is free; ``CircuitOpen`` if the circuit
        does not. ``check`` runs between waits for a slot (it may raise: a deadline); once
        ``abandoned`` is set, a caller still waiting gives up with ``SlotWaitAbandoned``. A call that
        returns closes the circuit; one that raises leaves counting failures to ``failed``, and if it
        was the probe, lets the next caller probe: a failure of its own (a rejected input, a time
        limit) says nothing about the provider, and must not keep every caller waiting until the
        probe's hold expires."""
        holder = uuid.uuid4().hex
        args = [holder, self.hold_ms, self.limit, self.threshold, int(PROBE_WAIT_S * 1000)]
        while True:
            taken, refused_ms, probe = self._enter(keys=self._keys, args=args)
            if taken:
                break
            if refused_ms:
                raise CircuitOpen(refused_ms / 1000)
            check()
            if abandoned.is_set():
                raise SlotWaitAbandoned("the caller stopped waiting for a slot")
            self.client.blpop([self.freed_key], timeout=self.poll_s)
        try:
            result = fn()
        except BaseException:
            self._leave(holder, succeeded=False, probe=bool(probe))
            raise
        self._leave(holder, succeeded=True)
        return result

    def failed(self) -> float:
        """Count a failed request; how long the circuit is now open (0 if it stays closed)."""
        failures = int(self.client.incr(self.failures_key))
        if failures < self.threshold:
            return 0.0
        self.client.pipeline().set(self.open_key, failures, px=self.open_ms).delete(self.probe_key).execute()
        return self.open_ms / 1000

    def _leave(self, holder: str, *, succeeded: bool, probe: bool = False) -> None:
        # Tokens nobody waited for are trimmed to one per slot, and expire.
        pipe = self.client.pipeline(transaction=False)
        pipe.zrem(self.holders_key, holder)
        pipe.rpush(self.freed_key, 1).ltrim(self.freed_key, -self.limit, -1).pexpire(self.freed_key, self.hold_ms)
        if succeeded:
            pipe.delete(self.failures_key, self.open_key, self.probe_key)
        elif probe:  # a counted failure has reopened the circuit already; this frees the probe otherwise
            pipe.delete(self.probe_key)
        pipe.execute()
