"""Which ``embed_ahead`` steps of a document are still running, so that embed, handed the document
while one is, waits for that step's vectors instead of asking the provider for the same texts again.

A big document's last step is sent while its last pages are still being read, and its requests are
often still out (or waiting for a slot) when embed takes over: embed then found those texts missing
from the cache and paid for them a second time (437 texts in one run of the mixed benchmark
corpus, which needs 2,157).

A step holds a claim in Redis from before it checks that the document is still being read until
after its vectors are committed, and embed looks at the claims before it reads the cache. Either
embed sees the claim, waits for its release and then finds the vectors in the cache, or the step
claimed after embed looked, and finds the document no longer being read. A claim is held for a few
seconds and renewed while its step runs, so the claim of a step killed mid-way (with its worker)
lapses soon after: a fixed hold as long as the longest embedding call (150 s by default) kept the
embed of a document recovered after a crash waiting out that much. Without Redis (the StubBroker)
there is nothing to share, and claims do nothing.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis

from pipeline.context import Context

log = logging.getLogger(__name__)

#: How long a waiter blocks on the release list before it looks at its deadline again.
POLL_S = 0.05
#: How long a claim lasts unless renewed; a running step renews it three times as often.
HOLD_MS = 10_000

# KEYS: the document's claims. ARGV: the holder, its hold (ms). Redis's clock, as in the provider gate.
_CLAIM = """
if redis.replicate_commands then redis.replicate_commands() end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""
# KEYS: the document's claims. Returns how many have not lapsed.
_LIVE = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""


class AheadClaims:
    def __init__(self, client: redis.Redis | None, document_id: str, *, hold_ms: int, poll_s: float = POLL_S) -> None:
        self.client = client
        self._claim = client.register_script(_CLAIM) if client is not None else None
        self._live = client.register_script(_LIVE) if client is not None else None
        self.key = f"pdfline:embed-ahead:{document_id}"
        self.released_key = f"{self.key}:released"
        self.hold_ms = hold_ms
        self.poll_s = poll_s

    @classmethod
    def of(cls, ctx: Context, document_id: str) -> AheadClaims:
        client = getattr(ctx.broker, "client", None)
        return cls(client if isinstance(client, redis.Redis) else None, document_id, hold_ms=HOLD_MS)

    @contextmanager
    def held(self) -> Iterator[None]:
        """A step's claim, renewed while it runs and released (waking a waiting embed) however the
        step ends."""
        if self.client is None or self._claim is None:
            yield
            return
        holder = uuid.uuid4().hex
        self._claim(keys=[self.key], args=[holder, self.hold_ms])
        done = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(holder, done), name="pdfline-ahead-claim", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            done.set()
            renewer.join()  # a renewal after the release would claim again
            pipe = self.client.pipeline(transaction=False)
            pipe.zrem(self.key, holder).rpush(self.released_key, 1).pexpire(self.released_key, self.hold_ms)
            pipe.execute()

    def _renew(self, holder: str, done: threading.Event) -> None:
        assert self._claim is not None
        while not done.wait(self.hold_ms / 3000):
            try:
                self._claim(keys=[self.key], args=[holder, self.hold_ms])
            except redis.RedisError as exc:  # the claim may lapse: embed then asks for these texts too
                log.warning("could not renew an embed_ahead claim: %s", exc)

    def wait(self, check: Callable[[], None]) -> None:
        """Until no step holds a claim; ``check`` runs between waits (it may raise: a deadline)."""
        if self.client is None or self._live is None:
            return
        while self._live(keys=[self.key]):
            check()
            self.client.blpop([self.released_key], timeout=self.poll_s)
