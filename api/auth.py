"""Optional API keys (``PDFLINE_API_KEYS``): off for local use, on in a deployment.

A key comes as ``Authorization: Bearer <key>``, ``X-API-Key: <key>``, or, for browsers' EventSource
which cannot send headers, ``?api_key=<key>``. Health, metrics and the dashboard's static files stay
open; the dashboard page passes the key it was opened with on to the API.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from api.errors import APIError

CHALLENGE = {"WWW-Authenticate": "Bearer"}


def presented_key(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("x-api-key") or request.query_params.get("api_key") or None


async def require_api_key(request: Request) -> None:
    """``async``, as it never blocks: no trip through the thread pool for every request."""
    keys = request.app.state.context.settings.api_keys
    if not keys:
        return
    presented = presented_key(request)
    if presented is None:
        raise APIError(
            401,
            "unauthorized",
            "this API needs a key: send 'Authorization: Bearer <key>' (or ?api_key=<key> on event streams)",
            CHALLENGE,
        )
    if not any(hmac.compare_digest(presented.encode(), key.get_secret_value().encode()) for key in keys):
        raise APIError(401, "unauthorized", "the API key is not valid", CHALLENGE)
