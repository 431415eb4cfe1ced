"""An OpenAI-compatible embeddings server on 127.0.0.1 whose failures the test scripts."""

from __future__ import annotations

import functools
import json
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pipeline.embedders.hashing import HashingEmbedder


@dataclass
class Scripted:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    at: float
    body: dict[str, Any]
    status: int = 200


#: How many distinct vectors cheap answers are made of (picked by a hash of the input).
CHEAP_VALUES = 997


@functools.lru_cache(maxsize=4096)
def _cheap_vector(value: int, dimensions: int) -> str:
    return json.dumps([value / CHEAP_VALUES + 0.001] * dimensions)


def encode_cheap_vectors(dimensions: int) -> None:
    """Encode every vector the cheap answers use before anything is measured: filling the cache
    on the fly took 64 encodings a request from the first requests of a run."""
    for value in range(CHEAP_VALUES):
        _cheap_vector(value, dimensions)


def _cheap_item(index: int, value: int, dimensions: int) -> str:
    """One answer's JSON from text already made: a benchmark's server encoding floats would take the
    CPU the pipeline is measured on (25 ms for 64 vectors of 384), which a remote provider does not."""
    return f'{{"object": "embedding", "index": {index}, "embedding": {_cheap_vector(value, dimensions)}}}'


class FakeEmbeddingServer:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: deque[Scripted] = deque()
        #: Seconds each successful answer takes, like a real model would: a fixed part, and one per input.
        self.delay_s = 0.0
        self.delay_per_input_s = 0.0
        #: Answer with cheap stand-in vectors instead of hashing each input (for benchmarks, where the
        #: server must not compete with the pipeline for CPU).
        self.cheap_vectors = False
        #: While set, successful answers are JSON without a list of embeddings.
        self.malformed = False
        #: While set, every request fails with this status: the provider is down.
        self.outage: int | None = None
        #: While cleared, successful answers wait for it (a minute at most): a provider that is slow
        #: for as long as a test needs.
        self.answering = threading.Event()
        self.answering.set()
        #: Share of requests answered 500, drawn from a seeded generator.
        self.fault_rate = 0.0
        #: Every ``burst_every``-th request starts ``burst_size`` 429s in a row, with ``Retry-After``.
        self.burst_every = 0
        self.burst_size = 0
        self.burst_retry_after_s = 0.2
        self._random = random.Random(20)
        self._served = 0
        self._burst_left = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeEmbeddingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, count: int, status: int = 500, headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self.script.extend(Scripted(status, headers or {}) for _ in range(count))

    def succeed_then_fail(self, successes: int, failures: int, status: int = 503) -> None:
        with self._lock:
            self.script.extend([Scripted(200)] * successes + [Scripted(status)] * failures)

    def _next(self) -> Scripted | None:
        with self._lock:
            if self.outage is not None:
                return Scripted(self.outage)
            if self.script:
                return self.script.popleft()
            self._served += 1
            if self.burst_every and self._served % self.burst_every == 0:
                self._burst_left = self.burst_size
            if self._burst_left:
                self._burst_left -= 1
                return Scripted(429, {"Retry-After": f"{self.burst_retry_after_s:g}"})
            if self._random.random() < self.fault_rate:
                return Scripted(500)
            return None

    def statuses(self) -> list[int]:
        return [r.status for r in self.requests]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                record = Received(at=time.monotonic(), body=body)
                server.requests.append(record)
                scripted = server._next()
                if self.path != "/v1/embeddings":
                    record.status = 404
                    return self._reply(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                if scripted is not None and scripted.status != 200:
                    record.status = scripted.status
                    error = {"error": {"message": f"scripted {scripted.status}", "type": "server_error"}}
                    return self._reply(scripted.status, error, scripted.headers)
                if body.get("encoding_format") != "float":
                    record.status = 400
                    return self._reply(400, {"error": {"message": "only float", "type": "invalid_request_error"}})
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                try:
                    server.answering.wait(60)
                    if server.delay_s or server.delay_per_input_s:
                        time.sleep(server.delay_s + server.delay_per_input_s * len(inputs))
                finally:
                    with server._lock:
                        server.in_flight -= 1
                dimensions = body.get("dimensions") or 64
                if server.malformed:
                    return self._reply(200, {"object": "list", "data": "overloaded, try later"})
                usage = {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}
                answer = {"object": "list", "data": "DATA", "model": body["model"], "usage": usage}
                if server.cheap_vectors:
                    items = [
                        _cheap_item(index, hash(text) % CHEAP_VALUES, dimensions) for index, text in enumerate(inputs)
                    ]
                    items.reverse()
                    head, tail = json.dumps(answer).split('"DATA"')
                    return self._reply(200, (head + "[" + ",".join(items) + "]" + tail).encode())
                vectors = HashingEmbedder(dimensions).embed(inputs)
                data = [{"object": "embedding", "index": i, "embedding": vector} for i, vector in enumerate(vectors)]
                data.reverse()  # the order of the list is not the order of the inputs: ``index`` is
                return self._reply(200, {**answer, "data": data})

            def _reply(
                self, status: int, payload: dict[str, Any] | bytes, headers: dict[str, str] | None = None
            ) -> None:
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

        return Handler
