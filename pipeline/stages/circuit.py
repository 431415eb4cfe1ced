"""A circuit breaker around the embedding provider, shared by every worker process through Redis.

After ``threshold`` failed calls in a row (each one already retried by the SDK), the circuit opens
for ``open_s``: embed work stops calling and waits instead of spending its retries on a provider
that is down. When the time is up, one caller probes; its success closes the circuit, its failure
opens it again.
"""

from __future__ import annotations

import redis

#: How long other callers wait while one probes a circuit that has just reopened.
PROBE_WAIT_S = 2.0


class ProviderCircuit:
    def __init__(self, client: redis.Redis, *, threshold: int, open_s: float, probe_ttl_s: float, key: str) -> None:
        self.client = client
        self.threshold = threshold
        self.open_s = open_s
        self.probe_ttl_ms = int(probe_ttl_s * 1000)
        self.failures_key = f"{key}:failures"
        self.open_key = f"{key}:open"
        self.probe_key = f"{key}:probe"

    def wait_s(self) -> float:
        """0 when a call may go ahead (the circuit is closed, or this caller is the probe); otherwise
        how long to wait before asking again."""
        open_ms, failures = self.client.pipeline().pttl(self.open_key).get(self.failures_key).execute()
        if open_ms and open_ms > 0:
            return open_ms / 1000
        if int(failures or 0) < self.threshold:
            return 0.0
        if self.client.set(self.probe_key, 1, nx=True, px=self.probe_ttl_ms):
            return 0.0
        return PROBE_WAIT_S

    def failed(self) -> float:
        """Count a failed call; how long the circuit is now open (0 if it stays closed)."""
        failures = int(self.client.incr(self.failures_key))
        if failures < self.threshold:
            return 0.0
        self.client.pipeline().set(self.open_key, failures, px=int(self.open_s * 1000)).delete(self.probe_key).execute()
        return self.open_s

    def succeeded(self) -> None:
        self.client.delete(self.failures_key, self.open_key, self.probe_key)
