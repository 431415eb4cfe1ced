"""Scheduled ticks run once, however many schedulers sent them, and a late tick is never silent.

periodiq has no lock between schedulers: two of them (started by accident, or during a deploy)
each send every tick. The first worker to take a tick claims it in Redis; the others skip it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import dramatiq
import redis
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware, SkipMessage

log = logging.getLogger(__name__)

#: How long a claimed tick is remembered; longer than any schedule's skip window.
CLAIM_TTL_S = 24 * 3600


class TickClaim(Middleware):
    """Must come after periodiq's middleware, so a tick skipped as late is not claimed."""

    def __init__(self, client: redis.Redis | None, skip_after_s: float, namespace: str = "pdfline") -> None:
        self.client = client
        self.skip_after_s = skip_after_s
        self.namespace = namespace

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        scheduled_at = self._scheduled_at(broker, message)
        if scheduled_at is None or self.client is None:
            return
        key = f"{self.namespace}:tick:{message.actor_name}:{scheduled_at}"
        if not self.client.set(key, message.message_id, nx=True, ex=CLAIM_TTL_S):
            log.info("%s tick of %s already ran elsewhere; skipping", message.actor_name, scheduled_at)
            raise SkipMessage(f"tick {scheduled_at} already claimed")

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        scheduled_at = self._scheduled_at(broker, message)
        if scheduled_at is None:
            return
        late = (datetime.now(UTC) - datetime.fromisoformat(scheduled_at)).total_seconds()
        if late > self.skip_after_s:
            log.warning(
                "skipped the %s tick scheduled at %s: it reached a worker %.0fs late (limit %.0fs); "
                "the queue is backed up or no worker was free",
                message.actor_name,
                scheduled_at,
                late,
                self.skip_after_s,
            )

    @staticmethod
    def _scheduled_at(broker: dramatiq.Broker, message: MessageProxy) -> str | None:
        actor = broker.actors.get(message.actor_name)
        if actor is None or "periodic" not in actor.options:
            return None
        value = message.options.get("scheduled_at")
        return str(value) if value else None
