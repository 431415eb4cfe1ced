"""Times each stage message and counts retries, for the worker's Prometheus metrics."""

from __future__ import annotations

import threading
import time
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

from pipeline.errors import describe
from pipeline.messages import route_of
from pipeline.metrics import STAGE_RETRIES, STAGE_SECONDS


class StageMetrics(Middleware):
    """Sits before ``Retries``, like ``DocumentProgress``, so it sees whether a failure is final."""

    def __init__(self) -> None:
        self._started = threading.local()

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._started.at = time.monotonic()

    def after_process_message(
        self, broker: dramatiq.Broker, message: MessageProxy, *, result: Any = None, exception: Any = None
    ) -> None:
        route = route_of(message.actor_name)
        started = getattr(self._started, "at", None)
        if route is None or not route.step.moves_document or started is None:
            return
        stage = route.step.stage.value
        if exception is None:
            outcome = "ok"
        elif message.failed:
            outcome = "failed"
        else:
            outcome = "retry"
            STAGE_RETRIES.labels(stage, describe(exception, stage, 0)[0]).inc()
        STAGE_SECONDS.labels(stage, outcome).observe(time.monotonic() - started)
        self._started.at = None

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._started.at = None
