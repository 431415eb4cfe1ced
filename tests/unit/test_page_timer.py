"""The per-page time limit interrupts Python loops, even ones that swallow ``Exception``, and never
fires after the call it guards has returned."""

from __future__ import annotations

import os
import signal
import time

import pytest

from pipeline.page_timer import PageTimeLimit, call_with_time_limit


def _hang_like_pypdf() -> None:
    while True:
        try:  # noqa: SIM105  (pypdf is full of these; the limit must get through them)
            sum(range(100))
        except Exception:  # noqa: S110
            pass


def test_a_hanging_call_is_interrupted_at_its_limit() -> None:
    started = time.monotonic()
    with pytest.raises(PageTimeLimit, match=r"longer than 0\.2s"):
        call_with_time_limit(_hang_like_pypdf, 0.2)
    assert time.monotonic() - started < 2


def test_a_call_that_returns_in_time_is_never_hit_later() -> None:
    results = [call_with_time_limit(lambda n=n: n * 2, 0.05) for n in range(200)]
    assert results == [n * 2 for n in range(200)]
    deadline = time.monotonic() + 0.3  # past every limit armed above
    while time.monotonic() < deadline:
        sum(range(100))  # a stray alarm would raise here


def test_the_calls_own_errors_pass_through() -> None:
    def broken() -> None:
        raise KeyError("/Contents")

    with pytest.raises(KeyError):
        call_with_time_limit(broken, 1)


def test_a_forked_child_gets_a_watchdog_of_its_own() -> None:
    call_with_time_limit(lambda: None, 5)  # the parent's watchdog thread is running now
    pid = os.fork()
    if pid == 0:  # the child: its limit must still fire, with no thread inherited from the parent
        try:
            call_with_time_limit(_hang_like_pypdf, 0.2)
        except PageTimeLimit:
            os._exit(0)
        os._exit(1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the child's page limit never fired")
