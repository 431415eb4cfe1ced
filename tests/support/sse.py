"""Event-stream clients for tests: a reader thread, and async collectors for many at once."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
from httpx_sse import aconnect_sse, connect_sse

from pipeline.events import TERMINAL_EVENTS

Received = tuple[str, str, dict[str, Any]]  # (id, event name, data)


class StreamReader(threading.Thread):
    """Reads one stream in the background until it ends, or until ``stop_after`` events."""

    def __init__(self, url: str, *, headers: dict[str, str] | None = None, stop_after: int | None = None) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.headers = headers or {}
        self.stop_after = stop_after
        self.events: list[Received] = []
        self.status: int | None = None
        self.error: BaseException | None = None
        self.first = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(10, read=120)) as client,
                connect_sse(client, "GET", self.url, headers=self.headers) as source,
            ):
                self.status = source.response.status_code
                for sse in source.iter_sse():
                    self.events.append((sse.id, sse.event, json.loads(sse.data)))
                    self.first.set()
                    if self.stop_after is not None and len(self.events) >= self.stop_after:
                        break
        except BaseException as exc:
            self.error = exc
        finally:
            self.first.set()
            self.done.set()

    @property
    def names(self) -> list[str]:
        return [name for _, name, _ in self.events]


async def read_until_terminal(
    client: httpx.AsyncClient, url: str, ready: threading.Event | None = None, counter: list[int] | None = None
) -> list[Received]:
    received: list[Received] = []
    async with aconnect_sse(client, "GET", url) as source:
        async for sse in source.aiter_sse():
            received.append((sse.id, sse.event, json.loads(sse.data)))
            if sse.event == "snapshot" and counter is not None:
                counter[0] += 1
            if sse.event in TERMINAL_EVENTS:
                break
    return received
