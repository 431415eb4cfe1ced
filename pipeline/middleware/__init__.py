"""Dramatiq middleware: one small class (or factory) per concern."""

from pipeline.middleware.progress import DocumentProgress
from pipeline.middleware.retries import transient_retries

__all__ = ["DocumentProgress", "transient_retries"]
