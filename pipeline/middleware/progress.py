"""Writes each stage message's lifecycle onto its document: running, retrying, failed.

A parse message is the exception for ``running``: its stage begins in its own first write
(``Step.begins_in_its_first_write``), and a failure or retry before that write begins it here, in
the transaction that reports it.
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware, SkipMessage

from pipeline import lifecycle
from pipeline.context import Context
from pipeline.errors import StageNotStarted, describe
from pipeline.messages import HANDED_OVER, Step, route_of

log = logging.getLogger(__name__)


class DocumentProgress(Middleware):
    """Must sit before ``Retries`` in the middleware list: after-hooks run in reverse, so by the time
    ours runs, ``Retries`` has decided whether the message is retried or failed for good."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        route = route_of(message.actor_name)
        step = route.step if route is not None else None
        if (
            step is None
            or not step.moves_document
            or step.begins_in_its_first_write
            or message.options.get(HANDED_OVER)
        ):
            # The stage's own guarded writes begin it or stop it if the document moved on since.
            return
        try:
            with self.ctx.session() as session:
                if step is Step.PARSE_RANGE:  # one slice of a parse that has begun already
                    document = lifecycle.continue_stage(session, message.args[0])
                elif step.finishes and lifecycle.handed_over(session, message.args[0], step.stage):
                    return
                else:
                    document = lifecycle.begin_stage(session, message.args[0], step.stage)
        except Exception as exc:  # retried like a failure of the stage, or the document fails
            raise StageNotStarted(f"could not mark document {message.args[0]} running: {exc}") from exc
        if document is None:
            raise SkipMessage(f"document {message.args[0]} is gone or no longer active")

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        route = route_of(message.actor_name)
        if route is None or not route.step.moves_document or exception is None:
            return
        stage = route.step.stage
        document_id = message.args[0]
        limit_s = self.ctx.settings.stage_hard_time_limit_ms(stage) / 1000
        error_type, text = describe(exception, stage.value, limit_s)
        with self.ctx.session() as session:
            if route.step.begins_in_its_first_write:  # it failed before that write, or with it
                lifecycle.begin_stage(session, document_id, stage, queued_only=True)
            if message.failed:
                if lifecycle.fail(session, document_id, error_type=error_type, message=text) is not None:
                    log.warning("document %s failed in %s: %s: %s", document_id, stage.value, error_type, text)
            elif lifecycle.record_retry(session, document_id, error_type=error_type, message=text) is not None:
                log.info("document %s: %s will be retried after %s", document_id, stage.value, error_type)
