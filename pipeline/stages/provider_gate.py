"""The gate every embedding request passes, shared by all worker processes through Redis: a circuit
breaker and a limit on requests in flight, checked together in one script. The slots are held by
``pipeline.stages.provider_lanes``, which keeps one from a request to the next.

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
  caller's own work and at slots freed by expiry. While it waits it is listed, by name, in a sorted
  set that expires entries a second after their last look: a holder that would keep its slot for
  its process's next request (``keep``) hands it to a caller of another process listed there
  instead, and wakes that caller on a list of its own.

Asking the circuit, taking a slot, letting it go and closing the circuit were four round trips
around each request, as two modules; they are one script to take a slot and one to keep it or let
it go (see the benchmark log, tests/benchmarks/README.md, for what each saved).
"""

from __future__ import annotations

import redis

#: How long other callers wait while one probes a circuit that has just reopened.
PROBE_WAIT_S = 2.0

# KEYS: holders, circuit open, failures, probe, waiting. ARGV: this holder, its hold (ms, the probe's
# too), the limit, the failure threshold, the wait while another probes (ms), a waiter's listing
# (ms). Returns {1, 0, 0} with a slot taken, {1, 0, 1} with a slot taken as the probe; {0, ms, 0}
# refused by the circuit for ms; {0, 0, 0} no slot free, the holder listed as waiting. A slot handed
# to the holder (see _KEEP) is taken whatever the count. Redis's own clock, so worker hosts whose
# clocks disagree still agree on who expired.
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
local handed = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not handed and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[5], now + tonumber(ARGV[6]), ARGV[1])
  redis.call('PEXPIRE', KEYS[5], ARGV[6])
  return {0, 0, 0}
end
redis.call('ZREM', KEYS[5], ARGV[1])
if probing then
  redis.call('SET', KEYS[4], 1, 'PX', ARGV[2])
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, 0, probing and 1 or 0}
"""

# After a request that succeeded. KEYS: holders, waiting, failures, circuit open, probe, freed. ARGV:
# this holder, its hold (ms), the holder-name prefix of this process, 1 to stay, the limit, how long
# a waiter has to claim a slot handed to it (ms). Closes the circuit. Returns {0, waiter} with the
# slot handed to a waiter of another process; {1, ''} with the hold renewed (stay); {0, ''} with
# the slot let go.
_KEEP = """
if redis.replicate_commands then redis.replicate_commands() end
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
for _, waiter in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if string.sub(waiter, 1, #ARGV[3]) ~= ARGV[3] then
    redis.call('ZREM', KEYS[1], ARGV[1])
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[6]), waiter)
    redis.call('ZREM', KEYS[2], waiter)
    return {0, waiter}
  end
end
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, ''}
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('RPUSH', KEYS[6], 1)
redis.call('LTRIM', KEYS[6], -tonumber(ARGV[5]), -1)
redis.call('PEXPIRE', KEYS[6], ARGV[2])
return {0, ''}
"""

#: How long a waiter stays listed after its last look at the slots: longer than one ``poll_s``.
WAITER_LISTED_MS = 1000
#: How long a slot handed to a waiter is kept for it: a waiter that died meanwhile loses it then.
CLAIM_MS = 2 * WAITER_LISTED_MS


class CircuitOpen(Exception):
    """The provider is failing for everyone: the stage waits ``wait_s`` and comes back."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"the embedding provider failed repeatedly; waiting {wait_s:.1f}s for it")
        self.wait_s = wait_s


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
        self.waiting_key = f"{slots_key}:waiting"
        self._enter_keys = [self.holders_key, self.open_key, self.failures_key, self.probe_key, self.waiting_key]
        self._keep_keys = [
            self.holders_key, self.waiting_key, self.failures_key, self.open_key, self.probe_key, self.freed_key
        ]  # fmt: skip
        self._enter = client.register_script(_ENTER)
        self._keep = client.register_script(_KEEP)

    def enter(self, holder: str) -> tuple[bool, float, bool]:
        """Take a slot for ``holder``: (taken, how long an open circuit refuses in seconds, whether
        this holder probes the circuit). Not taken and not refused: ``holder`` is listed as waiting
        until it takes one, calls ``stop_waiting``, or stops looking for a second."""
        args = [holder, self.hold_ms, self.limit, self.threshold, int(PROBE_WAIT_S * 1000), WAITER_LISTED_MS]
        taken, refused_ms, probe = self._enter(keys=self._enter_keys, args=args)
        return bool(taken), refused_ms / 1000, bool(probe)

    def wait_for_release(self, holder: str) -> None:
        """Until a slot is let go or handed to ``holder``, or ``poll_s`` at most."""
        self.client.blpop([self.freed_key, self._handed_key(holder)], timeout=self.poll_s)

    def stop_waiting(self, holder: str) -> None:
        """No longer listed; a slot handed over meanwhile goes on to the next waiter."""
        pipe = self.client.pipeline(transaction=False)
        _, handed, _ = (
            pipe.zrem(self.waiting_key, holder)
            .zrem(self.holders_key, holder)
            .delete(self._handed_key(holder))
            .execute()
        )
        if handed:
            self.leave(holder)

    def keep(self, holder: str, *, process: str, stay: bool) -> bool:
        """After a request that succeeded: close the circuit, then hand the slot to a caller outside
        ``process`` (a holder-name prefix) that waits for one, or keep it for this process's next
        request if ``stay``, or let it go. Whether it is kept."""
        args = [holder, self.hold_ms, process, 1 if stay else 0, self.limit, CLAIM_MS]
        kept, waiter = self._keep(keys=self._keep_keys, args=args)
        if waiter:
            handed_key = self._handed_key(waiter.decode())
            self.client.pipeline(transaction=False).rpush(handed_key, 1).pexpire(handed_key, CLAIM_MS).execute()
        return bool(kept)

    def failed(self) -> float:
        """Count a failed request; how long the circuit is now open (0 if it stays closed)."""
        failures = int(self.client.incr(self.failures_key))
        if failures < self.threshold:
            return 0.0
        self.client.pipeline().set(self.open_key, failures, px=self.open_ms).delete(self.probe_key).execute()
        return self.open_ms / 1000

    def _handed_key(self, holder: str) -> str:
        return f"{self.holders_key}:handed:{holder}"

    def leave(self, holder: str, *, probe: bool = False) -> None:
        """Let a slot go without closing the circuit: the request failed, or there was none. A probe
        that failed lets the next caller probe: a counted failure has reopened the circuit already,
        and a failure of its own (a rejected input) says nothing about the provider and must not keep
        every caller waiting until the probe's hold expires."""
        # Tokens nobody waited for are trimmed to one per slot, and expire.
        pipe = self.client.pipeline(transaction=False)
        pipe.zrem(self.holders_key, holder)
        pipe.rpush(self.freed_key, 1).ltrim(self.freed_key, -self.limit, -1).pexpire(self.freed_key, self.hold_ms)
        if probe:
            pipe.delete(self.probe_key)
        pipe.execute()
