"""Which documents still have a stage message alive in Redis: waiting in a queue, or held by a worker
process whose dramatiq heartbeat is fresh. ``embed_ahead`` messages do not count: they move nothing.
Reads dramatiq's Redis layout (namespace, ``.msgs`` hashes, ``__acks__`` sets, ``__heartbeats__``),
once per recovery pass."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import q_name

from pipeline.messages import queue_names, route_of


@dataclass
class BrokerView:
    alive: set[str] = field(default_factory=set)
    #: Messages held by dead workers, by document: (hash key, redis message id, message).
    dead: dict[str, list[tuple[str, str, Message]]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def load(cls, broker: RedisBroker, base_queue: str) -> BrokerView:
        view = cls()
        client, ns = broker.client, broker.namespace
        now_ms = int(time.time() * 1000)
        live_workers = [
            w.decode() for w in client.zrangebyscore(f"{ns}:__heartbeats__", now_ms - broker.heartbeat_timeout, "+inf")
        ]
        for queue in [name for base in queue_names(base_queue) for name in (base, f"{base}.DQ")]:
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
                route = route_of(message.actor_name)
                if route is None or not route.step.moves_document or not message.args:
                    continue
                document_id = str(message.args[0])
                if redis_id in waiting or redis_id in held:
                    view.alive.add(document_id)
                else:
                    view.dead[document_id].append((messages_key, redis_id.decode(), message))
        return view

    def resend_dead(self, broker: RedisBroker, document_id: str) -> int:
        """Queue a fresh copy of each message a dead worker held for the document, and drop the dead
        copy so dramatiq's own maintenance does not run it a second time."""
        dead = self.dead.pop(document_id, [])
        for messages_key, redis_id, message in dead:
            broker.client.hdel(messages_key, redis_id)
            options = {k: v for k, v in message.options.items() if k not in ("eta", "redis_message_id")}
            broker.enqueue(
                Message(q_name(message.queue_name), message.actor_name, message.args, message.kwargs, options)
            )
        return len(dead)
