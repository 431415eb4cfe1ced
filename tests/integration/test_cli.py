"""``pdfline up`` and ``pdfline upload`` as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlmodel import Session

from pipeline.cli.local_redis import free_port
from pipeline.models import Chunk, Document
from tests.conftest import FIXTURES
from tests.support.processes import descendants, pid_alive
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

PDFLINE = [str(Path(sys.executable).with_name("pdfline"))]


def api_ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def pdfline_upload(url: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PDFLINE, "upload", "--api", url, *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_up_then_upload_a_30_page_pdf_then_stop_with_no_orphans(tmp_path: Path, stop_signal: signal.Signals) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PDFLINE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen(
        [*PDFLINE, "up", "--port", str(port), "--processes", "1", "--threads", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    children: set[int] = set()
    try:
        wait_until(lambda: api_ready(url) or up.poll() is not None, timeout=60, what="pdfline up")
        assert up.poll() is None, (tmp_path / "up.log").read_text()
        children = descendants(up.pid)
        assert len(children) >= 6, "redis, two dramatiq main processes, a worker process under each and uvicorn"
        banner = (tmp_path / "up.log").read_text()
        assert url in banner
        assert "redis://127.0.0.1:" in banner
        assert "parsing   1 process(es), 2 parse(s) at a time each" in banner, "one process keeps two parses"
        assert "vectors   1 process, 16 threads" in banner

        upload = pdfline_upload(url, env, str(FIXTURES / "thirty_pages.pdf"))
        assert upload.returncode == 0, upload.stdout + upload.stderr
        assert "completed" in upload.stdout

        engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'pdfline.db'}")
        with Session(engine) as session:
            document = session.scalars(select(Document)).one()
            assert (document.status, document.pages_total) == ("completed", 30)
            stored = session.scalar(
                select(func.count()).where(Chunk.document_id == document.id, Chunk.embedding.is_not(None))  # type: ignore[union-attr]
            )
            assert stored == document.chunks_total > 0
        engine.dispose()

        watched = pdfline_upload(url, env, "--watch", str(FIXTURES / "multipage.pdf"), str(FIXTURES / "image_only.pdf"))
        assert watched.returncode == 1, "one of the two failed"
        assert "image_only.pdf failed: no_text: none of the 2 pages has extractable text" in watched.stdout
        assert "multipage.pdf" in watched.stdout
        assert watched.stdout.count("completed") >= 1
    finally:
        if up.poll() is None:
            up.send_signal(stop_signal)
        try:
            returncode = up.wait(60)
        finally:
            for pid in {up.pid, *children}:
                if pid_alive(pid):
                    os.kill(pid, signal.SIGKILL)
            log.close()
    assert returncode == 0
    assert not [pid for pid in children if pid_alive(pid)], "pdfline up left processes behind"
