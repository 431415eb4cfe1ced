"""The configured level holds for every logger, uvicorn's included."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from pipeline.logs import configure_logging
from pipeline.settings import Settings

UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.level, [(h, h.formatter) for h in root.handlers], {n: logging.getLogger(n).level for n in UVICORN}
    yield
    root.setLevel(saved[0])
    root.handlers[:] = [handler for handler, _ in saved[1]]
    for handler, formatter in saved[1]:
        handler.setFormatter(formatter)
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("level", ["WARNING", "INFO"])
def test_pdfline_log_level_applies_to_uvicorns_loggers_too(level: str) -> None:
    """uvicorn configures its loggers at INFO before importing the app: at WARNING, the access log
    of every request would still come out."""
    for name in UVICORN:
        logging.getLogger(name).setLevel(logging.INFO)
    configure_logging(Settings(log_level=level))  # type: ignore[arg-type]
    for name in UVICORN:
        assert logging.getLogger(name).isEnabledFor(logging.INFO) is (level == "INFO"), name
        assert logging.getLogger(name).isEnabledFor(logging.WARNING)
