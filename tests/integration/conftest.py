from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.main import create_app
from pipeline.cli.local_redis import LocalRedis, free_port
from pipeline.models import Event
from tests.support.embedding_server import FakeEmbeddingServer
from tests.support.postgres import LocalPostgres
from tests.support.processes import ApiProcess, WorkerProcess
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

TERMINAL = {"completed", "failed", "canceled"}


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedis]:
    server = LocalRedis(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


def embedding_env(server: FakeEmbeddingServer, **extra: str) -> dict[str, str]:
    """Workers embed through the test's server, and the SDK does not retry on its own: the stage
    retries are what a test sees."""
    return {"OPENAI_BASE_URL": server.base_url, "PDFLINE_EMBEDDING_MAX_RETRIES": "0", **extra}


class Stack:
    """A real worker process and the API (in-process) sharing one Redis and one SQLite file."""

    def __init__(
        self, tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch, database_url: str | None = None
    ) -> None:
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch
        self.database = "postgres" if database_url else "sqlite"
        self.env = {
            **({"PDFLINE_DATABASE_URL": database_url} if database_url else {}),
            "PDFLINE_DATA_DIR": str(tmp_path / "data"),
            "PDFLINE_REDIS_URL": redis_url,
            # dramatiq's worker metrics server, on loopback and a port of this test's own
            "dramatiq_prom_host": "127.0.0.1",
            "dramatiq_prom_port": str(free_port()),
            "dramatiq_prom_db": str(tmp_path / "worker-metrics"),
            "PDFLINE_RETRY_MIN_BACKOFF_S": "0.1",
            "PDFLINE_RETRY_MAX_BACKOFF_S": "0.5",
            "PDFLINE_LOG_LEVEL": "INFO",
        }
        self.worker: WorkerProcess | None = None
        self.api: ApiProcess | None = None
        self._client: TestClient | None = None

    def configure(self, **overrides: str) -> Stack:
        self.env.update(overrides)
        for name, value in self.env.items():
            self.monkeypatch.setenv(name, value)
        return self

    def start_worker(self, processes: int = 1, threads: int = 2, *, probe: bool = False) -> WorkerProcess:
        """``probe`` loads ``tests.support.worker_probe`` into the worker (see ``message_log``)."""
        log_path = self.tmp_path / "worker.log"
        self.worker = WorkerProcess(
            {**os.environ, **self.env, "PDFLINE_TEST_MESSAGE_LOG": str(self.message_log_path)},
            log_path,
            processes=processes,
            threads=threads,
            extra_modules=("tests.support.worker_probe",) if probe else (),
        ).start()
        return self.worker

    @property
    def message_log_path(self) -> Path:
        return self.tmp_path / "messages.jsonl"

    def message_log(self) -> list[dict[str, Any]]:
        """What a probed worker processed: pid, actor, args, retries, failed."""
        if not self.message_log_path.exists():
            return []
        return [json.loads(line) for line in self.message_log_path.read_text().splitlines()]

    def start_api_process(self) -> ApiProcess:
        """A real uvicorn, for what an in-process client cannot show (streams, shutdown)."""
        self.api = ApiProcess({**os.environ, **self.env}, self.tmp_path / "api.log", free_port()).start()
        return self.api

    def start(self, *, processes: int = 1, threads: int = 2, probe: bool = False, **overrides: str) -> Stack:
        """A worker process, and the API in-process behind ``self.client``."""
        self.configure(**overrides)
        self.start_worker(processes, threads, probe=probe)
        self._client = TestClient(create_app())
        self._client.__enter__()
        return self

    @property
    def client(self) -> TestClient:
        assert self._client is not None, "call start() first"
        return self._client

    def upload(self, path: Path, **params: Any) -> Any:
        with path.open("rb") as handle:
            return self.client.post("/documents", params=params, files={"file": (path.name, handle)})

    def wait_for(
        self,
        document_id: str,
        statuses: set[str] = TERMINAL,
        timeout: float = 60,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            document = self.client.get(f"/documents/{document_id}", headers=headers).json()
            return document if document["status"] in statuses else None

        return wait_until(probe, timeout=timeout, what=f"document {document_id} to reach {sorted(statuses)}")

    def chunks(self, document_id: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {"limit": 500, **params, **({"cursor": cursor} if cursor else {})}
            page = self.client.get(f"/documents/{document_id}/chunks", params=query).json()
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return items

    def events(self, document_id: str) -> list[Event]:
        engine = self.client.app.state.context.engine  # type: ignore[attr-defined]
        with Session(engine) as session:
            return list(session.scalars(select(Event).where(Event.document_id == document_id).order_by(Event.seq)))

    def close(self) -> None:
        if self._client is not None:
            self._client.__exit__(None, None, None)
        if self.worker is not None:
            self.worker.stop()
        if self.api is not None:
            self.api.stop()


@pytest.fixture(scope="session")
def postgres(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalPostgres | None]:
    """With ``--database postgres``, one PostgreSQL (with pgvector) for the session; else None."""
    if request.config.getoption("--database") != "postgres":
        yield None
        return
    server = LocalPostgres(tmp_path_factory.mktemp("postgres"))
    yield server
    server.stop()


@pytest.fixture
def stack(
    tmp_path: Path, redis_server: LocalRedis, postgres: LocalPostgres | None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    database_url = postgres.create_database() if postgres is not None else None
    created = Stack(tmp_path, redis_server.url, monkeypatch, database_url)
    yield created
    created.close()
