"""Each worker process marks itself present in Redis, so /readyz and /metrics can tell whether any
worker is there. dramatiq's own heartbeat set cannot: every broker client that enqueues (the API
too) shows up in it."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

import dramatiq
import redis
from dramatiq.middleware import Middleware

log = logging.getLogger(__name__)

PRESENCE_KEY = "pdfline:workers"


class WorkerPresence(Middleware):
    def __init__(self, client: redis.Redis, interval_s: float) -> None:
        self.client = client
        self.interval_s = interval_s
        self.member = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        self.member = f"{socket.gethostname()}:{os.getpid()}"  # the pid of this process, not the importer's
        threading.Thread(target=self._run, name="pdfline-presence", daemon=True).start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._stop.set()
        try:
            self.client.zrem(PRESENCE_KEY, self.member)
        except redis.RedisError as exc:
            log.warning("could not withdraw worker presence: %s", exc)

    def _run(self) -> None:
        while True:
            try:
                self.client.zadd(PRESENCE_KEY, {self.member: time.time()})
            except redis.RedisError as exc:  # keep trying: Redis may come back
                log.warning("could not mark worker presence: %s", exc)
            if self._stop.wait(self.interval_s):
                return
