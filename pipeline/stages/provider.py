"""Calling the embedding provider politely: a shared limit on requests in flight, the provider's own
``Retry-After`` respected by the stage retry that follows a refusal, and a circuit breaker that
makes embed work wait out an outage instead of burning its retries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import redis
from dramatiq import Retry

from pipeline.errors import EmbeddingUnavailable, PipelineError
from pipeline.metrics import EMBEDDING_INPUTS, EMBEDDING_REQUESTS
from pipeline.stages.concurrent_batches import ConcurrentCalls
from pipeline.stages.pacing import Deadline
from pipeline.stages.provider_gate import CircuitOpen, ProviderGate
from pipeline.stages.provider_lanes import ProviderLanes

if TYPE_CHECKING:
    from pipeline.context import Context

#: The longest Retry-After honoured; beyond it the normal backoff and retry budget decide.
MAX_RETRY_AFTER_S = 3600.0
WAIT_FOR_SLOT_S = 0.05


class GuardedProvider:
    """``ctx.embedder`` behind the gate (``pipeline.stages.provider_gate``), which lives in Redis so
    that it holds across worker processes, and sent through the process's lanes. One per process
    (``Context.provider``). Neither applies to the local hashing embedder, which runs in the
    stage's own thread; on the StubBroker the lanes run without a gate."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        settings = ctx.settings
        client = getattr(ctx.broker, "client", None)
        self.gate: ProviderGate | None = None
        self.lanes: ProviderLanes | None = None
        if settings.resolved_embedding_provider != "openai":
            return
        if isinstance(client, redis.Redis):
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
        self.lanes = ProviderLanes(
            self.gate, settings.embedding_concurrency, merged=self._call, max_inputs=settings.embedding_batch_size
        )

    def batches(
        self, batches: Sequence[Sequence[tuple[str, str]]], deadline: Deadline
    ) -> ConcurrentCalls[Sequence[tuple[str, str]], list[list[float]]]:
        """Vectors for batches of (text hash, text), in flight together, and merged with other
        stages' batches waiting in the lanes when they fit one request; answers in order."""
        texts = [[text for _, text in batch] for batch in batches]
        lanes = self.lanes
        return ConcurrentCalls(
            lambda batch: self._call([text for _, text in batch]),
            batches,
            submit=(lambda calls: lanes.submit(calls, inputs=texts)) if lanes else None,
            deadline=deadline,
        )

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
