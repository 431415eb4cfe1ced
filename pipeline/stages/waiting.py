"""Waiting out a provider outage without spending the document's retries: the message is sent again,
delayed, and remembers since when it has been waiting, so the wait is bounded."""

from __future__ import annotations

import logging
import random
import time

from pipeline import lifecycle
from pipeline.context import Context
from pipeline.errors import ProviderOutage
from pipeline.messages import Route
from pipeline.stages.provider_gate import CircuitOpen

log = logging.getLogger(__name__)

#: Spread of the wake-ups, so waiting documents do not all call the provider in the same instant.
JITTER = 0.25


def wait_for_provider(
    ctx: Context, route: Route, document_id: str, args: tuple[int, ...], signal: CircuitOpen, since: float | None
) -> None:
    now = time.time()
    waited_s = now - (since or now)
    limit_s = ctx.settings.provider_max_wait_s
    if waited_s >= limit_s:
        raise ProviderOutage(
            f"the embedding provider kept failing for {waited_s:.0f}s, longer than the {limit_s:g}s a document "
            "waits for it; retry the document once it is back"
        ) from signal
    delay_s = min(signal.wait_s * (1 + random.uniform(0, JITTER)), limit_s - waited_s + 0.01)
    if since is None:
        with ctx.session() as session:
            if lifecycle.wait_for_provider(session, document_id, message=str(signal), resume_in_s=delay_s) is None:
                return
        log.warning("document %s: %s", document_id, signal)
    ctx.broker.get_actor(route.actor_name).send_with_options(
        args=(document_id, *args), kwargs={"waiting_since": since or now}, delay=int(delay_s * 1000)
    )
