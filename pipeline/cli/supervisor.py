"""Runs child processes as one unit: if one dies, or on Ctrl-C / SIGTERM, all of them stop.

Each child gets its own session (process group) so a terminal's Ctrl-C reaches only us. We then
stop the children in reverse start order: SIGTERM to each leader (dramatiq passes it on to its
worker processes once; a second signal would make them die hard), and after a grace period SIGKILL
to whatever is left of each group, so no orphan outlives ``pdfline up``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


@dataclass
class Supervisor:
    grace_s: float = 20.0
    children: list[Child] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self, name: str, argv: Sequence[str], env: dict[str, str]) -> Child:
        process = subprocess.Popen(list(argv), env=env, start_new_session=True)
        child = Child(name, process)
        self.children.append(child)
        return child

    def install_signal_handlers(self) -> None:
        def request_stop(signum: int, _frame: FrameType | None) -> None:
            self._stop.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)

    def wait(self, poll_s: float = 0.5) -> Child | None:
        """Block until asked to stop (returns None) or a child exits on its own (returns it)."""
        while not self._stop.wait(poll_s):
            for child in self.children:
                if child.process.poll() is not None:
                    return child
        return None

    def stop_all(self) -> None:
        for child in reversed(self.children):
            if child.process.poll() is None:
                child.process.terminate()
        for child in reversed(self.children):
            try:
                child.process.wait(self.grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(child.process, signal.SIGKILL)
                child.process.wait()
            # The group may still hold grandchildren after the leader exited.
            _signal_group(child.process, signal.SIGKILL)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)
