"""Opaque cursors: the position after the last item of a page, base64 so clients treat it as a token."""

from __future__ import annotations

import base64
import json
from typing import Any

from api.errors import APIError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def encode_cursor(*position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIError(422, "invalid_cursor", "the cursor is not one this API issued") from exc
    if not isinstance(position, list) or len(position) != arity:
        raise APIError(422, "invalid_cursor", "the cursor is not one this API issued")
    return position
