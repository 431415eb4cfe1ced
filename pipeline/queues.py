"""What the broker holds, read from dramatiq's Redis keys: messages ready, delayed and dead per
queue, and how many worker processes have a fresh heartbeat. Used by /readyz, /stats and /metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import dq_name, xq_name

from pipeline.messages import queue_names
from pipeline.middleware.presence import PARSE_PRESENCE_KEY, PRESENCE_KEY

#: The periodic jobs' queue is the stage queue's name with this suffix.
JOBS_QUEUE_SUFFIX = ".jobs"


@dataclass(frozen=True)
class QueueDepth:
    queue: str
    ready: int
    delayed: int
    dead: int


def queue_depths(broker: dramatiq.Broker, base_queue: str) -> list[QueueDepth]:
    names = [*queue_names(base_queue), base_queue + JOBS_QUEUE_SUFFIX]
    if not isinstance(broker, RedisBroker):
        queues = getattr(broker, "queues", {})
        return [QueueDepth(name, queues[name].qsize() if name in queues else 0, 0, 0) for name in names]
    pipe = broker.client.pipeline(transaction=False)
    for name in names:
        pipe.llen(f"{broker.namespace}:{name}")
        pipe.llen(f"{broker.namespace}:{dq_name(name)}")
        pipe.zcard(f"{broker.namespace}:{xq_name(name)}")
    counts = pipe.execute()
    return [QueueDepth(name, *counts[i * 3 : i * 3 + 3]) for i, name in enumerate(names)]


def live_workers(broker: dramatiq.Broker, timeout_s: float, *, parsing: bool = False) -> int | None:
    """Worker processes that marked themselves present within ``timeout_s`` (``WorkerPresence``),
    or only those that take parse messages; ``None`` on a broker without Redis."""
    if not isinstance(broker, RedisBroker):
        return None
    key = PARSE_PRESENCE_KEY if parsing else PRESENCE_KEY
    return int(broker.client.zcount(key, time.time() - timeout_s, "+inf"))
