"""The one place a broker is built, so the API, the worker and tests get the same middleware."""

from __future__ import annotations

import dramatiq
import redis
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware, Retries, ShutdownNotifications, TimeLimit
from periodiq import PeriodiqMiddleware

from pipeline.context import Context
from pipeline.db import create_db_engine
from pipeline.doorbell import DoorbellRedisBroker, Prefetch
from pipeline.events import NullPublisher, RedisEventPublisher
from pipeline.jobs import declare_jobs
from pipeline.messages import parse_queue_names, vectors_queue_names
from pipeline.middleware import (
    DocumentHeartbeat,
    DocumentProgress,
    LogContext,
    StageMetrics,
    TickClaim,
    WorkerPresence,
    transient_retries,
)
from pipeline.settings import Settings
from pipeline.stages import declare_stages

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
NAMESPACE = "pdfline"

#: How often the time-limit watchdog looks at running messages (ms).
TIME_LIMIT_CHECK_MS = 250


def base_middleware(settings: Settings) -> list[Middleware]:
    return [
        TimeLimit(interval=TIME_LIMIT_CHECK_MS),
        ShutdownNotifications(),
        PeriodiqMiddleware(skip_delay=settings.schedule_skip_after_s),
        transient_retries(settings),
    ]


def queue_prefetch(settings: Settings) -> dict[str, Prefetch]:
    """Parse queues take ``parse_prefetch``. The ``.vectors`` queues take ``vectors_prefetch``, by
    default all the worker's threads but one, so that a parse always finds a thread: with dramatiq's
    figure (twice the threads), a process's threads could all be embed messages waiting on the
    provider, its core idle, while its parse waited for one of them to finish."""
    vectors: Prefetch = settings.vectors_prefetch or _all_threads_but_one
    return {
        **dict.fromkeys(parse_queue_names(settings.queue_name), settings.parse_prefetch),
        **dict.fromkeys(vectors_queue_names(settings.queue_name), vectors),
    }


def _all_threads_but_one(threads: int) -> int:
    return max(1, threads - 1)


def build_broker(settings: Settings, *, stub: bool = False) -> dramatiq.Broker:
    """A Redis broker (no connection is made until first use), or a StubBroker for unit tests."""
    middleware = base_middleware(settings)
    if stub:
        return StubBroker(middleware=middleware)
    return DoorbellRedisBroker(
        url=settings.redis_url or DEFAULT_REDIS_URL,
        namespace=NAMESPACE,
        doorbell_channel=f"{NAMESPACE}:doorbell",
        queue_prefetch=queue_prefetch(settings),
        middleware=middleware,
        heartbeat_timeout=int(settings.worker_heartbeat_timeout_s * 1000),
    )


def build_context(settings: Settings, broker: dramatiq.Broker | None = None) -> Context:
    """Broker, database engine and stage actors, wired together."""
    broker = broker or build_broker(settings)
    client = getattr(broker, "client", None)
    publisher = RedisEventPublisher(client) if isinstance(client, redis.Redis) else NullPublisher()
    ctx = Context(settings=settings, broker=broker, engine=create_db_engine(settings), publisher=publisher)
    ctx.broker.add_middleware(LogContext(), before=Retries)
    ctx.broker.add_middleware(DocumentProgress(ctx), before=Retries)
    ctx.broker.add_middleware(StageMetrics(), before=Retries)
    ctx.broker.add_middleware(DocumentHeartbeat(ctx))
    if isinstance(client, redis.Redis):
        ctx.broker.add_middleware(WorkerPresence(client, settings.heartbeat_s, parse_queue_names(settings.queue_name)))
    ctx.broker.add_middleware(
        TickClaim(client if isinstance(client, redis.Redis) else None, settings.schedule_skip_after_s, NAMESPACE),
        after=PeriodiqMiddleware,
    )
    declare_stages(ctx)
    declare_jobs(ctx)
    return ctx
