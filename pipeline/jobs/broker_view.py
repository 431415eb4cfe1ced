"""Which documents still have a stage message alive in Redis: waiting in a queue, or held by a worker
process whose dramatiq heartbeat is fresh. Reads dramatiq's Redis layout (namespace, ``.msgs``
hashes, ``__acks__`` sets, ``__heartbeats__``), once per recovery pass."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

from pipeline.models import Stage

_STAGES = {stage.value for stage in Stage}


@dataclass
class BrokerView:
    alive: set[str] = field(default_factory=set)
    #: Messages of dead workers, by document: (hash key, redis message id).
    dead: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def load(cls, broker: RedisBroker, queue_name: str) -> BrokerView:
        view = cls()
        client, ns = broker.client, broker.namespace
        now_ms = int(time.time() * 1000)
        live_workers = [
            w.decode() for w in client.zrangebyscore(f"{ns}:__heartbeats__", now_ms - broker.heartbeat_timeout, "+inf")
        ]
        for queue in (queue_name, f"{queue_name}.DQ"):
            messages_key = f"{ns}:{queue}.msgs"
            messages = client.hgetall(messages_key)
            if not messages:
                continue
            waiting = set(client.lrange(f"{ns}:{queue}", 0, -1))
            held: set[bytes] = set()
            for worker in live_workers:
                held |= client.smembers(f"{ns}:__acks__.{worker}.{queue}")
            for redis_id, payload in messages.items():
                message = Message.decode(payload)
                if message.actor_name not in _STAGES or not message.args:
                    continue
                document_id = str(message.args[0])
                if redis_id in waiting or redis_id in held:
                    view.alive.add(document_id)
                else:
                    view.dead[document_id].append((messages_key, redis_id.decode()))
        return view

    def forget_dead(self, broker: RedisBroker, document_id: str) -> None:
        """Drop a dead worker's copy, so dramatiq's own maintenance does not run it a second time."""
        for messages_key, redis_id in self.dead.pop(document_id, []):
            broker.client.hdel(messages_key, redis_id)
