"""The FastAPI app factory; ``uvicorn api.main:app`` serves the default instance."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.routers import documents, health
from pipeline.broker import build_context
from pipeline.context import Context
from pipeline.db import init_schema
from pipeline.logs import configure_logging
from pipeline.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, context: Context | None = None) -> FastAPI:
    """Nothing connects until startup, so importing this module (or building an app in a test) is free."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = context or build_context(settings or Settings())
        init_schema(ctx.engine)
        ctx.settings.uploads_dir.mkdir(parents=True, exist_ok=True)
        app.state.context = ctx
        try:
            yield
        finally:
            if context is None:
                ctx.broker.close()
                ctx.engine.dispose()

    configure_logging()
    app = FastAPI(title="pdfline", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(documents.router)
    app.include_router(health.router)
    return app


app = create_app()
