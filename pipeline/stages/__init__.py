"""The three stage actors, declared on a context's broker with options from its settings."""

from __future__ import annotations

import logging
from collections.abc import Callable

import dramatiq

from pipeline.context import Context
from pipeline.errors import PermanentError, StopProcessing
from pipeline.models import Stage
from pipeline.stages.embed import run_embed
from pipeline.stages.pacing import Deadline
from pipeline.stages.parse import run_parse
from pipeline.stages.store import run_store

log = logging.getLogger(__name__)

Runner = Callable[[Context, str, Deadline], None]

RUNNERS: dict[Stage, Runner] = {
    Stage.PARSE: run_parse,
    Stage.EMBED: run_embed,
    Stage.STORE: run_store,
}


def declare_stages(ctx: Context) -> dict[Stage, dramatiq.Actor]:  # type: ignore[type-arg]
    settings = ctx.settings
    actors = {}
    for stage, runner in RUNNERS.items():
        actors[stage] = dramatiq.actor(
            _bind(ctx, stage, runner),
            broker=ctx.broker,
            actor_name=stage.value,
            queue_name=settings.queue_name,
            time_limit=settings.stage_hard_time_limit_ms(stage),
            throws=(PermanentError,),
        )
    return actors


def _bind(ctx: Context, stage: Stage, runner: Runner) -> Callable[[str], None]:
    def stage_actor(document_id: str) -> None:
        deadline = Deadline(stage.value, ctx.settings.stage_time_limit_s(stage))
        try:
            runner(ctx, document_id, deadline)
        except StopProcessing:
            log.info("document %s is no longer running; %s stopped", document_id, stage.value)

    stage_actor.__name__ = stage.value
    stage_actor.__qualname__ = stage.value
    return stage_actor
