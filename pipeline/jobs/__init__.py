"""Scheduled jobs: declared as periodic actors for ``periodiq pipeline.worker``, runnable by hand."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import dramatiq
import redis
from periodiq import cron

from pipeline.context import Context
from pipeline.jobs.cleanup import run_cleanup
from pipeline.jobs.recovery import run_recovery
from pipeline.models.types import utcnow
from pipeline.queues import JOBS_QUEUE_SUFFIX

log = logging.getLogger(__name__)

Job = Callable[[Context], dict[str, int]]


def record_run(ctx: Context, name: str, summary: dict[str, int]) -> None:
    """Counts and the last summary of each job, in Redis, for operators (and for tests)."""
    client = getattr(ctx.broker, "client", None)
    if not isinstance(client, redis.Redis):
        return
    pipe = client.pipeline(transaction=False)
    pipe.incr(f"pdfline:jobs:{name}:runs")
    pipe.set(f"pdfline:jobs:{name}:last", json.dumps({"at": utcnow().isoformat(), **summary}))
    pipe.execute()


def run_job(ctx: Context, name: str, job: Job) -> dict[str, int]:
    summary = job(ctx)
    record_run(ctx, name, summary)
    return summary


def declare_jobs(ctx: Context) -> dict[str, dramatiq.Actor]:  # type: ignore[type-arg]
    settings = ctx.settings
    schedules: dict[str, tuple[Job, str]] = {
        "cleanup": (run_cleanup, settings.cleanup_cron),
        "recovery": (run_recovery, settings.recovery_cron),
    }
    actors = {}
    for name, (job, spec) in schedules.items():

        def run(job_name: str = name, job_fn: Job = job) -> None:
            run_job(ctx, job_name, job_fn)

        run.__name__ = name
        actors[name] = dramatiq.actor(
            run,
            broker=ctx.broker,
            actor_name=name,
            queue_name=settings.queue_name + JOBS_QUEUE_SUFFIX,
            periodic=cron(spec),
            max_retries=0,
        )
    return actors
