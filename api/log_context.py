"""Binds the request's method and path, and on ``/documents/{id}/...`` the document id, to every log
line written while the request is handled (structlog context variables follow into thread pools)."""

from __future__ import annotations

import re

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

_DOCUMENT_PATH = re.compile(r"^/documents/([0-9a-fA-F-]{36})(?:/|$)")


class RequestLogContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = {"method": scope["method"], "path": scope["path"]}
        if match := _DOCUMENT_PATH.match(scope["path"]):
            context["document_id"] = match.group(1)
        with structlog.contextvars.bound_contextvars(**context):
            await self.app(scope, receive, send)
