"""Coalescing of progress writes: at most one per interval, plus the final one."""

from __future__ import annotations

from time import monotonic


class Pacer:
    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last = monotonic()

    def due(self) -> bool:
        now = monotonic()
        if now - self._last >= self.interval_s:
            self._last = now
            return True
        return False
