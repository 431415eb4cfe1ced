"""Every log line written while a message runs carries its message id, and for stage messages the
document id and stage, through structlog's context variables (one message per thread at a time)."""

from __future__ import annotations

from typing import Any

import dramatiq
import structlog
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

from pipeline.messages import route_of


class LogContext(Middleware):
    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        structlog.contextvars.clear_contextvars()
        context: dict[str, Any] = {"message_id": message.message_id, "actor": message.actor_name}
        route = route_of(message.actor_name)
        if route is not None and message.args:
            context.update(document_id=message.args[0], stage=route.step.stage.value)
        structlog.contextvars.bind_contextvars(**context)

    def after_process_message(
        self, broker: dramatiq.Broker, message: MessageProxy, *, result: Any = None, exception: Any = None
    ) -> None:
        structlog.contextvars.clear_contextvars()

    after_skip_message = after_process_message
