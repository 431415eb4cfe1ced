"""A time limit on reading one page.

pypdf's known hangs are Python loops over malformed content, so the limit is an asynchronous
exception raised in the reading thread, as dramatiq's ``TimeLimit`` does for whole messages. It is a
``BaseException`` so pypdf's many ``except Exception`` blocks cannot swallow it, and it is armed only
while the page is read: a page that finishes in time can never be hit by it afterwards.

One watchdog thread per process keeps every armed limit: arming and disarming are a dict write
under a lock, where a timer thread per page cost more than reading a short page.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Longest wait for an already-fired exception to land before we assume it landed inside ``fn``.
LANDING_WAIT_S = 0.2


class PageTimeout(BaseException):
    """Raised asynchronously in the reading thread when its page runs past the limit."""


class PageTimeLimit(Exception):
    def __init__(self, limit_s: float) -> None:
        super().__init__(f"reading it took longer than {limit_s:g}s")
        self.limit_s = limit_s


class _Alarm:
    __slots__ = ("deadline", "fired", "thread_id")

    def __init__(self, thread_id: int, deadline: float) -> None:
        self.thread_id = thread_id
        self.deadline = deadline
        self.fired = False


class _Watchdog:
    """Fires each armed alarm whose deadline has passed, unless it was disarmed first."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._armed: dict[int, _Alarm] = {}
        self._keys = itertools.count()
        self._started = False
        #: When the watchdog wakes next on its own (``None``: not until notified).
        self._wakes_at: float | None = None

    def arm(self, limit_s: float) -> tuple[int, _Alarm]:
        alarm = _Alarm(threading.get_ident(), time.monotonic() + limit_s)
        with self._condition:
            if not self._started:
                self._started = True
                threading.Thread(target=self._run, name="pdfline-page-watchdog", daemon=True).start()
            key = next(self._keys)
            self._armed[key] = alarm
            if self._wakes_at is None or alarm.deadline < self._wakes_at:
                self._condition.notify()
        return key, alarm

    def disarm(self, key: int, alarm: _Alarm) -> bool:
        """``True`` if the alarm already went off."""
        with self._condition:
            self._armed.pop(key, None)
            return alarm.fired

    def _run(self) -> None:
        with self._condition:
            while True:
                now = time.monotonic()
                for key, alarm in list(self._armed.items()):
                    if alarm.deadline <= now:
                        del self._armed[key]
                        alarm.fired = True
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(
                            ctypes.c_ulong(alarm.thread_id), ctypes.py_object(PageTimeout)
                        )
                self._wakes_at = min((alarm.deadline for alarm in self._armed.values()), default=None)
                self._condition.wait(None if self._wakes_at is None else self._wakes_at - now)


_watchdog = _Watchdog()
# A forked child has neither the thread nor, safely, its lock: it starts afresh.
os.register_at_fork(after_in_child=_watchdog.__init__)


def _tick() -> None:
    pass


def _let_it_land() -> None:
    """A fired exception is delivered at the thread's next function call; make calls until it is."""
    deadline = time.monotonic() + LANDING_WAIT_S
    while time.monotonic() < deadline:
        _tick()


def call_with_time_limit(fn: Callable[[], T], limit_s: float) -> T:
    """``fn()``, or ``PageTimeLimit`` once it has run ``limit_s`` seconds."""
    key, alarm = _watchdog.arm(limit_s)
    try:
        try:
            return fn()
        finally:
            if _watchdog.disarm(key, alarm):
                _let_it_land()
    except PageTimeout:
        raise PageTimeLimit(limit_s) from None
