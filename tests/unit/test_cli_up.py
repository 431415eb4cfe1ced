"""``pdfline up``'s choices for the worker it starts."""

from __future__ import annotations

import pytest

from pipeline.cli.up import parse_prefetch_override, worker_commands
from pipeline.messages import parse_queue_names, queue_names
from pipeline.queues import JOBS_QUEUE_SUFFIX
from pipeline.settings import Settings


def test_a_single_worker_process_keeps_two_parses_so_a_slow_pdf_does_not_hold_up_the_rest() -> None:
    assert parse_prefetch_override(Settings(), processes=1) == {"PDFLINE_PARSE_PREFETCH": "2"}
    assert parse_prefetch_override(Settings(), processes=2) == {}


def test_a_prefetch_the_user_chose_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDFLINE_PARSE_PREFETCH", "1")
    assert parse_prefetch_override(Settings(), processes=1) == {}


def test_every_queue_is_listened_to_by_exactly_one_worker() -> None:
    """A queue left out would hold its messages for good (the jobs' queue too)."""
    settings = Settings()
    workers = worker_commands(settings, processes=2, threads=None, vector_threads=None)
    listened = [queue for worker in workers for queue in worker.queues]
    assert sorted(listened) == sorted([*queue_names(settings.queue_name), settings.queue_name + JOBS_QUEUE_SUFFIX])
    assert {worker.name: worker.argv[worker.argv.index("--queues") + 1 :] for worker in workers} == {
        worker.name: worker.queues for worker in workers
    }


def test_parsing_gets_the_processes_and_vectors_four_threads_per_provider_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PDFLINE_EMBEDDING_CONCURRENCY", "8")
    parsing, vectors = worker_commands(Settings(), processes=3, threads=None, vector_threads=None)
    assert (parsing.processes, parsing.threads) == (3, 2)
    assert parsing.queues == parse_queue_names("pdfline")
    assert (vectors.processes, vectors.threads) == (1, 32)
    parsing, vectors = worker_commands(Settings(), processes=1, threads=4, vector_threads=5)
    assert (parsing.threads, vectors.threads) == (4, 5), "what the user chose"
