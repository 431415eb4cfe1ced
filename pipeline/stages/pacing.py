"""Time inside a stage: coalescing progress writes, and the stage's own time limit."""

from __future__ import annotations

from time import monotonic

from pipeline.errors import StageTimeLimit


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


class Deadline:
    """Checked at page and batch boundaries, where stopping leaves nothing half-written."""

    def __init__(self, stage: str, limit_s: float) -> None:
        self.stage = stage
        self.limit_s = limit_s
        self._started = monotonic()

    def check(self) -> None:
        if monotonic() - self._started > self.limit_s:
            raise StageTimeLimit(f"the {self.stage} stage ran longer than its limit of {self.limit_s:g}s")
