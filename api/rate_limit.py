"""The per-client limit on uploads (``PDFLINE_UPLOAD_RATE_LIMIT``), counted in Redis so every API
process shares it; a client is its API key when it sends one, else its address."""

from __future__ import annotations

import hashlib
import math
import time

import limits
from fastapi import Request
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from api.auth import presented_key
from api.errors import APIError


class UploadRateLimit:
    def __init__(self, rate: str, storage_uri: str) -> None:
        self.rate = rate
        self.item = limits.parse(rate)
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def check(self, request: Request) -> None:
        """Count one upload request; 429 with ``Retry-After`` once the client is over its rate."""
        client = _client(request)
        if self.limiter.hit(self.item, "uploads", client):
            return
        reset_at = self.limiter.get_window_stats(self.item, "uploads", client).reset_time
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise APIError(
            429,
            "rate_limited",
            f"too many uploads from this client (the limit is {self.rate}); try again in {retry_after}s",
            {"Retry-After": str(retry_after)},
        )


def _client(request: Request) -> str:
    key = presented_key(request)
    if key is not None:
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return "addr:" + (request.client.host if request.client else "unknown")
