"""Publishing committed events to Redis, where each API process fans them out to its watchers.

Events are published only after the transaction that wrote them commits, so a watcher never sees
an event the database does not have; the database stays the record, Redis only the doorbell.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

import redis

from pipeline.models import Event

log = logging.getLogger(__name__)

CHANNEL = "pdfline:events"
#: ``Session.info`` key under which transitions leave their events, to publish after commit.
PENDING_EVENTS = "pdfline_events"
TERMINAL_EVENTS = frozenset({"completed", "failed", "canceled"})


def wire_form(event: Event) -> dict[str, Any]:
    """What travels on the channel: enough to order, deduplicate and forward without a query."""
    return {"pk": event.id, "document_id": event.document_id, "seq": event.seq, "name": event.name, "data": event.data}


class EventPublisher(Protocol):
    def publish(self, events: list[dict[str, Any]]) -> None:
        """``events`` in their wire form, committed."""


class NullPublisher:
    """For contexts without Redis (unit tests on the StubBroker)."""

    def publish(self, events: list[dict[str, Any]]) -> None:
        return None


class RedisEventPublisher:
    def __init__(self, client: redis.Redis, channel: str = CHANNEL) -> None:
        self.client = client
        self.channel = channel

    def publish(self, events: list[dict[str, Any]]) -> None:
        try:
            pipe = self.client.pipeline(transaction=False)
            for event in events:
                pipe.publish(self.channel, json.dumps(event, separators=(",", ":")))
            pipe.execute()
        except redis.RedisError as exc:
            # The events are committed; watchers resynchronise from the database when Redis returns.
            log.warning("could not publish %d event(s): %s", len(events), exc)
