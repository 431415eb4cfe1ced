"""Calls that record the order they were made in, the first of them held until a test lets it go:
what a test of who goes next needs while something is in flight."""

from __future__ import annotations

import threading
from collections.abc import Callable


class FirstHeld:
    def __init__(self, first: str) -> None:
        self.first = first
        self.order: list[str] = []
        self.first_sent = threading.Event()
        self.go_on = threading.Event()

    def call(self, name: str) -> Callable[[], str]:
        def sent() -> str:
            self.order.append(name)
            if name == self.first:
                self.first_sent.set()
                self.go_on.wait(30)
            return name

        return sent
