"""The stage actors, one per (step, priority), declared on a context's broker with options from its settings."""

from __future__ import annotations

import logging
from collections.abc import Callable

import dramatiq

from pipeline.context import Context
from pipeline.errors import PermanentError, StopProcessing
from pipeline.messages import ROUTES, Route, Step
from pipeline.models.types import utcnow
from pipeline.stages.embed import run_embed
from pipeline.stages.embed_ahead import run_embed_ahead
from pipeline.stages.pacing import Deadline
from pipeline.stages.parse import run_parse, run_parse_range
from pipeline.stages.provider_gate import CircuitOpen
from pipeline.stages.run import StageRun
from pipeline.stages.store import run_store
from pipeline.stages.waiting import wait_for_provider

log = logging.getLogger(__name__)

Runner = Callable[..., None]

RUNNERS: dict[Step, Runner] = {
    Step.PARSE: run_parse,
    Step.PARSE_RANGE: run_parse_range,
    Step.EMBED: run_embed,
    Step.STORE: run_store,
    Step.EMBED_AHEAD: run_embed_ahead,
}


def declare_stages(ctx: Context) -> dict[str, dramatiq.Actor]:  # type: ignore[type-arg]
    settings = ctx.settings
    actors = {}
    for name, route in ROUTES.items():
        actors[name] = dramatiq.actor(
            _bind(ctx, route, RUNNERS[route.step]),
            broker=ctx.broker,
            actor_name=name,
            queue_name=route.queue_name(settings.queue_name),
            priority=route.actor_priority,
            time_limit=settings.stage_hard_time_limit_ms(route.step.stage),
            throws=(PermanentError,),
            # A warm-up that embed redoes if need be: not worth a retry.
            **({} if route.step.moves_document else {"max_retries": 0}),
        )
    return actors


def _bind(ctx: Context, route: Route, runner: Runner) -> Callable[..., None]:
    stage = route.step.stage

    def stage_actor(document_id: str, *args: int, waiting_since: float | None = None) -> None:
        deadline = Deadline(stage.value, ctx.settings.stage_time_limit_s(stage))
        unbegun_since = utcnow() if route.step.begins_in_its_first_write else None
        try:
            runner(StageRun(ctx, document_id, route.priority, deadline, unbegun_since), *args)
        except StopProcessing:
            log.info(
                "document %s is no longer active (finished, canceled or deleted); %s stopped",
                document_id,
                route.step.value,
            )
        except CircuitOpen as signal:
            wait_for_provider(ctx, route, document_id, args, signal, waiting_since)

    stage_actor.__name__ = stage_actor.__qualname__ = route.actor_name.replace(".", "_")
    return stage_actor
