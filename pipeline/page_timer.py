"""A time limit on reading one page.

pypdf's known hangs are Python loops over malformed content, so the limit is an asynchronous
exception raised in the reading thread, as dramatiq's ``TimeLimit`` does for whole messages. It is a
``BaseException`` so pypdf's many ``except Exception`` blocks cannot swallow it, and it is armed only
while the page is read: a page that finishes in time can never be hit by it afterwards.
"""

from __future__ import annotations

import ctypes
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
    def __init__(self, thread_id: int, limit_s: float) -> None:
        self._thread_id = thread_id
        self._lock = threading.Lock()
        self._armed = True
        self._fired = False
        self._timer = threading.Timer(limit_s, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._armed:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(self._thread_id), ctypes.py_object(PageTimeout)
                )
                self._fired = True

    def disarm(self) -> bool:
        """Stop the alarm; ``True`` if it already went off."""
        with self._lock:
            self._armed = False
        self._timer.cancel()
        return self._fired


def _tick() -> None:
    pass


def _let_it_land() -> None:
    """A fired exception is delivered at the thread's next function call; make calls until it is."""
    deadline = time.monotonic() + LANDING_WAIT_S
    while time.monotonic() < deadline:
        _tick()


def call_with_time_limit(fn: Callable[[], T], limit_s: float) -> T:
    """``fn()``, or ``PageTimeLimit`` once it has run ``limit_s`` seconds."""
    alarm = _Alarm(threading.get_ident(), limit_s)
    try:
        try:
            return fn()
        finally:
            if alarm.disarm():
                _let_it_land()
    except PageTimeout:
        raise PageTimeLimit(limit_s) from None
