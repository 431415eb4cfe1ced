"""Each worker process marks itself present in Redis, so /readyz and /metrics can tell whether any
worker is there. dramatiq's own heartbeat set cannot: every broker client that enqueues (the API
too) shows up in it. A process that takes parse messages (it listens to every queue, or to a parse
queue among those given to ``--queues``) is also marked in a set of its own: the processes a big
PDF's page ranges can go to."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Collection
from typing import Any

import dramatiq
import redis
from dramatiq.middleware import Middleware

log = logging.getLogger(__name__)

PRESENCE_KEY = "pdfline:workers"
PARSE_PRESENCE_KEY = "pdfline:parse-workers"


class WorkerPresence(Middleware):
    def __init__(self, client: redis.Redis, interval_s: float, parse_queues: Collection[str]) -> None:
        self.client = client
        self.interval_s = interval_s
        self.parse_queues = frozenset(parse_queues)
        self.member = f"{socket.gethostname()}:{os.getpid()}"
        self.keys = [PRESENCE_KEY]
        self._stop = threading.Event()

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        self.member = f"{socket.gethostname()}:{os.getpid()}"  # the pid of this process, not the importer's
        listens_to = getattr(worker, "consumer_whitelist", None)  # dramatiq's --queues; empty: all queues
        if not listens_to or self.parse_queues & set(listens_to):
            self.keys = [PRESENCE_KEY, PARSE_PRESENCE_KEY]
        threading.Thread(target=self._run, name="pdfline-presence", daemon=True).start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._stop.set()
        try:
            pipe = self.client.pipeline(transaction=False)
            for key in self.keys:
                pipe.zrem(key, self.member)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("could not withdraw worker presence: %s", exc)

    def _run(self) -> None:
        while True:
            try:
                pipe = self.client.pipeline(transaction=False)
                for key in self.keys:
                    pipe.zadd(key, {self.member: time.time()})
                pipe.execute()
            except redis.RedisError as exc:  # keep trying: Redis may come back
                log.warning("could not mark worker presence: %s", exc)
            if self._stop.wait(self.interval_s):
                return
