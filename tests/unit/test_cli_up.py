"""``pdfline up``'s choices for the worker it starts."""

from __future__ import annotations

import pytest

from pipeline.cli.up import parse_prefetch_override
from pipeline.settings import Settings


def test_a_single_worker_process_keeps_two_parses_so_a_slow_pdf_does_not_hold_up_the_rest() -> None:
    assert parse_prefetch_override(Settings(), processes=1) == {"PDFLINE_PARSE_PREFETCH": "2"}
    assert parse_prefetch_override(Settings(), processes=2) == {}


def test_a_prefetch_the_user_chose_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDFLINE_PARSE_PREFETCH", "1")
    assert parse_prefetch_override(Settings(), processes=1) == {}
