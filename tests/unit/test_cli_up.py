"""``pdfline up``'s choices for the worker it starts."""

from __future__ import annotations

import pytest

from pipeline.cli.up import parse_prefetch_override, worker_threads
from pipeline.settings import Settings


def test_a_single_worker_process_keeps_two_parses_so_a_slow_pdf_does_not_hold_up_the_rest() -> None:
    assert parse_prefetch_override(Settings(), processes=1) == {"PDFLINE_PARSE_PREFETCH": "2"}
    assert parse_prefetch_override(Settings(), processes=2) == {}


def test_a_prefetch_the_user_chose_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDFLINE_PARSE_PREFETCH", "1")
    assert parse_prefetch_override(Settings(), processes=1) == {}


def test_a_single_worker_process_gets_threads_for_every_provider_slot_and_its_parses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each process keeps a thread for parses (``PDFLINE_VECTORS_PREFETCH``): alone, with 4 threads,
    it could not fill the provider's 4 slots."""
    assert worker_threads(Settings(), processes=2, parses=1, chosen=None) == 4
    assert worker_threads(Settings(), processes=1, parses=2, chosen=None) == 6
    monkeypatch.setenv("PDFLINE_EMBEDDING_CONCURRENCY", "8")
    assert worker_threads(Settings(), processes=1, parses=2, chosen=None) == 10
    assert worker_threads(Settings(), processes=1, parses=2, chosen=3) == 3, "what the user chose"
