"""Dramatiq middleware: one small class (or factory) per concern."""

from pipeline.middleware.heartbeat import DocumentHeartbeat
from pipeline.middleware.log_context import LogContext
from pipeline.middleware.presence import WorkerPresence
from pipeline.middleware.progress import DocumentProgress
from pipeline.middleware.retries import transient_retries
from pipeline.middleware.schedule import TickClaim
from pipeline.middleware.stage_metrics import StageMetrics

__all__ = [
    "DocumentHeartbeat",
    "DocumentProgress",
    "LogContext",
    "StageMetrics",
    "TickClaim",
    "WorkerPresence",
    "transient_retries",
]
