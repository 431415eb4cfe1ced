"""Calling the embedding provider politely: a shared limit on requests in flight, the provider's own
``Retry-After`` respected by the stage retry that follows a refusal, and a circuit breaker that
makes embed work wait out an outage instead of burning its retries."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import redis
from dramatiq import Retry

from pipeline.context import Context
from pipeline.errors import EmbeddingUnavailable, PipelineError
from pipeline.metrics import EMBEDDING_INPUTS, EMBEDDING_REQUESTS
from pipeline.stages.circuit import ProviderCircuit
from pipeline.stages.pacing import Deadline
from pipeline.stages.shared_slots import SharedSlots

#: The longest Retry-After honoured; beyond it the normal backoff and retry budget decide.
MAX_RETRY_AFTER_S = 3600.0
WAIT_FOR_SLOT_S = 0.05


class CircuitOpen(Exception):
    """The provider is failing for everyone: the stage waits ``wait_s`` and comes back."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"the embedding provider failed repeatedly; waiting {wait_s:.1f}s for it")
        self.wait_s = wait_s


class GuardedProvider:
    """``ctx.embedder`` behind the limit and the circuit; both live in Redis, so they hold across
    worker processes. Neither applies to the local hashing embedder or on the StubBroker."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        settings = ctx.settings
        client = getattr(ctx.broker, "client", None)
        self.slots: SharedSlots | None = None
        self.circuit: ProviderCircuit | None = None
        #: Calls worth making at once from one stage: a remote provider's, not the local embedder's.
        self.concurrency = settings.embedding_concurrency if settings.resolved_embedding_provider == "openai" else 1
        if not isinstance(client, redis.Redis) or settings.resolved_embedding_provider != "openai":
            return
        # A slot held by a worker that died is freed after the longest a request can take.
        longest_call_s = settings.embedding_timeout_s * (settings.embedding_max_retries + 1) + 60
        self.slots = SharedSlots(
            client,
            "pdfline:embedding-slots",
            limit=settings.embedding_concurrency,
            ttl_ms=int(longest_call_s * 1000),
            poll_s=WAIT_FOR_SLOT_S,
        )
        self.circuit = ProviderCircuit(
            client,
            threshold=settings.circuit_failure_threshold,
            open_s=settings.circuit_open_s,
            probe_ttl_s=longest_call_s,
            key="pdfline:embedding-circuit",
        )

    def embed(self, texts: Sequence[str], deadline: Deadline, abandoned: threading.Event) -> list[list[float]]:
        """``abandoned``, once set, stops a call still waiting for a slot (``SlotWaitAbandoned``)."""
        if self.circuit is not None and (wait_s := self.circuit.wait_s()):
            raise CircuitOpen(wait_s)
        if self.slots is None:
            return self._call(texts)
        return self.slots.call(lambda: self._call(texts), abandoned=abandoned, check=deadline.check)

    def _call(self, texts: Sequence[str]) -> list[list[float]]:
        try:
            vectors = self.ctx.embedder.embed(texts)
        except PipelineError as exc:
            EMBEDDING_REQUESTS.labels(exc.type).inc()
            if not isinstance(exc, EmbeddingUnavailable):
                raise
            if self.circuit is not None and (wait_s := self.circuit.failed()):
                raise CircuitOpen(wait_s) from exc
            if exc.retry_after_s is None:
                raise
            # dramatiq's Retries uses a Retry's delay instead of its own backoff.
            delay_s = min(max(exc.retry_after_s, self.ctx.settings.retry_min_backoff_s), MAX_RETRY_AFTER_S)
            raise Retry(f"the provider asked to retry after {exc.retry_after_s:g}s", delay=int(delay_s * 1000)) from exc
        EMBEDDING_REQUESTS.labels("ok").inc()
        EMBEDDING_INPUTS.inc(len(texts))
        if self.circuit is not None:
            self.circuit.succeeded()
        return vectors
