"""The pipeline benchmark still runs, end to end, on a corpus small enough for the test run.

Its figures are for the README and are never asserted here (tests don't time things); what this
checks is that every part of it reports, with every document completed, so that a change to the
API, the CLI or the stages that breaks the benchmark is found by CI and not by the next person to
measure.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.benchmarks.pipeline import _descendants

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ARGS = [
    "--small", "3", "--medium", "1", "--large", "0", "--repeat", "1",
    "--big-pages", "12", "--overhead-runs", "2", "--sse-subscribers", "2",
]  # fmt: skip


@pytest.fixture
def run_benchmark(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """The benchmark as documented, its corpus and data in ``tmp_path``; it and every process it
    started (``pdfline up`` runs in a session of its own) are killed by pid afterwards."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "benchmarks" / "pipeline.py"), *ARGS],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        yield process
    finally:
        for pid in [process.pid, *_descendants(process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait()


def test_the_pipeline_benchmark_reports_every_part(run_benchmark: subprocess.Popen[str]) -> None:
    output, _ = run_benchmark.communicate(timeout=240)
    assert run_benchmark.returncode == 0, output
    assert "did not complete" not in output, output
    assert re.search(r"corpus: 4 PDFs, 45 pages", output), output
    for side in ("floor ", "floor-m ", "pdfline "):
        assert re.search(rf"^{side}\s*[\d.]+ docs/s .* CPU\s+[\d.]+ ms/page .* peak RSS [\d, ]+ MB$", output, re.M), (
            side,
            output,
        )
    assert re.search(r"^pdfline / floor throughput: \d+\.\d\d$", output, re.M), output
    assert re.search(r"^pdfline / merging floor throughput: \d+\.\d\d$", output, re.M), output
    assert re.search(r"embedding requests: [1-9]\d*, max in flight [1-4]$", output, re.M), output
    assert re.search(r"the queue adds -?\d+ ms", output), output
    assert re.search(r"one 12-page PDF: completed in .* progress stood still at most [\d.]+s; peak RSS", output), output
    assert re.search(r"^\s+2\s+2\s+\d+\s", output, re.M), output  # both SSE watchers finished
