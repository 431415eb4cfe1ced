"""Bounded retries with exponential backoff and jitter, for transient errors only.

Dramatiq's own ``Retries`` does the backoff (with jitter) and re-enqueueing; we only narrow what is
retried and how often: its default is 20 retries spread over weeks, which hides real outages.
"""

from __future__ import annotations

from dramatiq.middleware import Retries

from pipeline.errors import is_transient
from pipeline.settings import Settings


def transient_retries(settings: Settings) -> Retries:
    max_retries = settings.max_retries

    def retry_when(retries_so_far: int, exception: BaseException) -> bool:
        return retries_so_far < max_retries and is_transient(exception)

    return Retries(
        max_retries=max_retries,
        min_backoff=int(settings.retry_min_backoff_s * 1000),
        max_backoff=int(settings.retry_max_backoff_s * 1000),
        retry_when=retry_when,
    )
