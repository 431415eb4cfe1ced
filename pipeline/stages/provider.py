"""Calling the embedding provider politely: a shared limit on requests in flight, and the
provider's own ``Retry-After`` respected by the stage retry that follows a refusal."""

from __future__ import annotations

import time
from collections.abc import Sequence

import redis
from dramatiq import Retry
from dramatiq.rate_limits import ConcurrentRateLimiter
from dramatiq.rate_limits.backends import RedisBackend

from pipeline.context import Context
from pipeline.errors import EmbeddingUnavailable
from pipeline.stages.pacing import Deadline

#: The longest Retry-After honoured; beyond it the normal backoff and retry budget decide.
MAX_RETRY_AFTER_S = 3600.0
WAIT_FOR_SLOT_S = 0.05


def limiter_for(ctx: Context) -> ConcurrentRateLimiter | None:
    """One limit for every worker process, kept in Redis; none for the local hashing embedder, or on
    the StubBroker."""
    client = getattr(ctx.broker, "client", None)
    if not isinstance(client, redis.Redis) or ctx.settings.resolved_embedding_provider != "openai":
        return None
    settings = ctx.settings
    # A slot held by a worker that died is freed after the longest a request can take.
    ttl_ms = int(settings.embedding_timeout_s * (settings.embedding_max_retries + 1) * 1000) + 60_000
    return ConcurrentRateLimiter(
        RedisBackend(client=client), "pdfline:embedding-requests", limit=settings.embedding_concurrency, ttl=ttl_ms
    )


def embed_batch(
    ctx: Context, limiter: ConcurrentRateLimiter | None, texts: Sequence[str], deadline: Deadline
) -> list[list[float]]:
    while True:
        if limiter is None:
            return _call(ctx, texts)
        with limiter.acquire(raise_on_failure=False) as acquired:
            if acquired:
                return _call(ctx, texts)
        deadline.check()
        time.sleep(WAIT_FOR_SLOT_S)


def _call(ctx: Context, texts: Sequence[str]) -> list[list[float]]:
    try:
        return ctx.embedder.embed(texts)
    except EmbeddingUnavailable as exc:
        if exc.retry_after_s is None:
            raise
        # dramatiq's Retries uses a Retry's delay instead of its own backoff.
        delay_s = min(max(exc.retry_after_s, ctx.settings.retry_min_backoff_s), MAX_RETRY_AFTER_S)
        raise Retry(f"the provider asked to retry after {exc.retry_after_s:g}s", delay=int(delay_s * 1000)) from exc
