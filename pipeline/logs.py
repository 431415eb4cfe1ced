"""Logging setup shared by the worker, the API and the CLI."""

from __future__ import annotations

import logging
import os
import sys


def configure_logging(level: str | None = None) -> None:
    level = level or os.environ.get("PDFLINE_LOG_LEVEL", "INFO")
    root = logging.getLogger()
    if not root.handlers:  # dramatiq and uvicorn configure their own; keep theirs
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "openai._base_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
