"""Marks, every few seconds, each document this worker process is working on, so recovery can tell
a slow stage from a dead worker."""

from __future__ import annotations

import logging
import threading
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware
from sqlalchemy import update

from pipeline.context import Context
from pipeline.messages import route_of
from pipeline.models import Document, Status
from pipeline.models.types import utcnow

log = logging.getLogger(__name__)


class DocumentHeartbeat(Middleware):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._held: dict[int, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._thread = threading.Thread(target=self._run, name="pdfline-heartbeat", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._stop.set()

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        route = route_of(message.actor_name)
        if route is not None and route.step.moves_document:
            with self._lock:
                self._held[threading.get_ident()] = message.args[0]

    def after_process_message(
        self, broker: dramatiq.Broker, message: MessageProxy, *, result: Any = None, exception: Any = None
    ) -> None:
        with self._lock:
            self._held.pop(threading.get_ident(), None)

    after_skip_message = after_process_message

    def beat(self) -> int:
        with self._lock:
            held = set(self._held.values())
        if not held:
            return 0
        with self.ctx.session() as session:
            result = session.execute(
                update(Document)
                .where(Document.id.in_(held), Document.status == Status.RUNNING)  # type: ignore[attr-defined]
                .values(heartbeat_at=utcnow())
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def _run(self) -> None:
        while not self._stop.wait(self.ctx.settings.heartbeat_s):
            try:
                self.beat()
            except Exception as exc:  # keep beating: a database hiccup must not stop the heartbeat
                log.warning("heartbeat write failed: %s", exc)
