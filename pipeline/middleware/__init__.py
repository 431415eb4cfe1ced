"""Dramatiq middleware: one small class (or factory) per concern."""

from pipeline.middleware.heartbeat import DocumentHeartbeat
from pipeline.middleware.progress import DocumentProgress
from pipeline.middleware.retries import transient_retries
from pipeline.middleware.schedule import TickClaim

__all__ = ["DocumentHeartbeat", "DocumentProgress", "TickClaim", "transient_retries"]
