"""Dependencies the routers ask for; tests replace them through ``app.state`` or overrides."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from pipeline.context import Context


async def get_context(request: Request) -> Context:
    """``async`` because it never blocks: FastAPI runs a plain ``def`` dependency in its thread pool,
    a hop there and back on every request."""
    return request.app.state.context  # type: ignore[no-any-return]


def get_session(ctx: Annotated[Context, Depends(get_context)]) -> Iterator[Session]:
    with Session(ctx.engine, expire_on_commit=False) as session:
        yield session


ContextDep = Annotated[Context, Depends(get_context)]
SessionDep = Annotated[Session, Depends(get_session)]
