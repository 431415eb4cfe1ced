from __future__ import annotations

import pytest

from pipeline.cli import main
from pipeline.cli.local_redis import free_port
from tests.conftest import FIXTURES


def test_upload_without_an_api_says_so_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["upload", "--api", f"http://127.0.0.1:{free_port()}", str(FIXTURES / "plain.pdf")])
    assert code == 2
    assert "cannot reach the pdfline API" in capsys.readouterr().out
