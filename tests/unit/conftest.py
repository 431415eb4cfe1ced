from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dramatiq import Worker
from fastapi.testclient import TestClient

from api.main import create_app
from pipeline.broker import build_broker, build_context
from pipeline.context import Context
from pipeline.schema import upgrade as upgrade_schema
from pipeline.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", progress_interval_s=0)


@pytest.fixture
def ctx(settings: Settings) -> Iterator[Context]:
    """A context on dramatiq's StubBroker and a fresh SQLite file: unit tests only."""
    context = build_context(settings, broker=build_broker(settings, stub=True))
    upgrade_schema(context.engine)
    yield context
    context.broker.close()
    context.engine.dispose()


@pytest.fixture
def worker(ctx: Context) -> Iterator[Worker]:
    """One dramatiq worker thread on the context's StubBroker."""
    running = Worker(ctx.broker, worker_timeout=50, worker_threads=1)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(context=ctx)) as test_client:
        yield test_client
