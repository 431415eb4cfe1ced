"""Loaded into a real worker next to ``pipeline.worker`` (``dramatiq pipeline.worker tests.support.worker_probe``)
to watch which process ran which message, and to fail chosen messages once.

``PDFLINE_TEST_MESSAGE_LOG``: a file that gets one JSON line per processed message.
``PDFLINE_TEST_FAIL_FIRST``: ``actor:arg`` pairs (comma-separated), e.g. ``parse_range:51``; the first
run of a matching message, across all worker processes, raises a transient ``ConnectionError``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware


class MessageLog(Middleware):
    def __init__(self, path: Path) -> None:
        self.path = path

    def after_process_message(
        self, broker: dramatiq.Broker, message: MessageProxy, *, result: Any = None, exception: Any = None
    ) -> None:
        line = {
            "pid": os.getpid(),
            "actor": message.actor_name,
            "args": list(message.args),
            "retries": message.options.get("retries", 0),
            "failed": exception is not None,
        }
        with self.path.open("a") as handle:
            handle.write(json.dumps(line) + "\n")


def fail_first_run(fn: Callable[..., Any], actor_name: str, markers: Path) -> Callable[..., Any]:
    """Middleware exceptions are logged and swallowed by dramatiq, so the fault goes in the actor."""

    def wrapper(*args: Any) -> Any:
        marker = markers / f"{actor_name}-{args[1] if len(args) > 1 else ''}.failed"
        if marker.name.removesuffix(".failed").replace("-", ":") in FAIL_FIRST:
            try:
                marker.touch(exist_ok=False)  # exactly one process wins the first run
            except FileExistsError:
                pass
            else:
                raise ConnectionError(f"injected fault in {actor_name} {args[1:]}")
        return fn(*args)

    return wrapper


FAIL_FIRST = {item for item in os.environ.get("PDFLINE_TEST_FAIL_FIRST", "").split(",") if item}
_log = Path(os.environ["PDFLINE_TEST_MESSAGE_LOG"])
_broker = dramatiq.get_broker()
_broker.add_middleware(MessageLog(_log))
for _actor in _broker.actors.values():
    _actor.fn = fail_first_run(_actor.fn, _actor.actor_name, _log.parent)
