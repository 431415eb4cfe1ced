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
from pipeline.stages.pacing import Deadline
from pipeline.stages.provider_gate import CircuitOpen, ProviderGate

#: The longest Retry-After honoured; beyond it the normal backoff and retry budget decide.
MAX_RETRY_AFTER_S = 3600.0
WAIT_FOR_SLOT_S = 0.05


class GuardedProvider:
    """``ctx.embedder`` behind the gate (``pipeline.stages.provider_gate``), which lives in Redis so
    that it holds across worker processes. It does not apply to the local hashing embedder or on the
    StubBroker."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        settings = ctx.settings
        client = getattr(ctx.broker, "client", None)
        self.gate: ProviderGate | None = None
        #: Calls worth making at once from one stage: a remote provider's, not the local embedder's.
        self.concurrency = settings.embedding_concurrency if settings.resolved_embedding_provider == "openai" else 1
        if not isinstance(client, redis.Redis) or settings.resolved_embedding_provider != "openai":
            return
        self.gate = ProviderGate(
            client,
            slots_key="pdfline:embedding-slots",
            circuit_key="pdfline:embedding-circuit",
            limit=settings.embedding_concurrency,
            hold_ms=int(settings.longest_embedding_call_s * 1000),
            poll_s=WAIT_FOR_SLOT_S,
            threshold=settings.circuit_failure_threshold,
            open_s=settings.circuit_open_s,
        )

    def embed(self, texts: Sequence[str], deadline: Deadline, abandoned: threading.Event) -> list[list[float]]:
        """``abandoned``, once set, stops a call still waiting for a slot (``SlotWaitAbandoned``)."""
        if self.gate is None:
            return self._call(texts)
        return self.gate.call(lambda: self._call(texts), abandoned=abandoned, check=deadline.check)

    def _call(self, texts: Sequence[str]) -> list[list[float]]:
        try:
            vectors = self.ctx.embedder.embed(texts)
        except PipelineError as exc:
            EMBEDDING_REQUESTS.labels(exc.type).inc()
            if not isinstance(exc, EmbeddingUnavailable):
                raise
            if self.gate is not None and (wait_s := self.gate.failed()):
                raise CircuitOpen(wait_s) from exc
            if exc.retry_after_s is None:
                raise
            # dramatiq's Retries uses a Retry's delay instead of its own backoff.
            delay_s = min(max(exc.retry_after_s, self.ctx.settings.retry_min_backoff_s), MAX_RETRY_AFTER_S)
            raise Retry(f"the provider asked to retry after {exc.retry_after_s:g}s", delay=int(delay_s * 1000)) from exc
        EMBEDDING_REQUESTS.labels("ok").inc()
        EMBEDDING_INPUTS.inc(len(texts))
        return vectors
