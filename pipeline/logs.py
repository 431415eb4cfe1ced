"""Logging for the API, the workers and the scheduler: structlog over the standard library, so
dramatiq's, uvicorn's and our own loggers all come out the same way. JSON lines by default, one
object per line with ``document_id``, ``message_id`` and ``stage`` where there is one; readable
console output when stderr is a terminal (``PDFLINE_LOG_FORMAT`` overrides: json, console, auto).
"""

from __future__ import annotations

import logging
import sys

import structlog

from pipeline.settings import Settings

#: Loggers that configure their own handlers; their records go to ours instead.
_OWN_HANDLERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
_NOISY = ("httpx", "httpcore", "openai._base_client", "alembic.runtime.plugins")


def configure_logging(settings: Settings) -> None:
    level = settings.log_level.upper()
    console = settings.log_format == "console" or (settings.log_format == "auto" and sys.stderr.isatty())

    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: list[structlog.typing.Processor] = (
        [structlog.dev.ConsoleRenderer()]
        if console
        else [
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            structlog.processors.JSONRenderer(),
        ]
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )

    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    for handler in root.handlers:  # dramatiq's worker processes come with their own (a pipe to the parent)
        handler.setFormatter(formatter)
    root.setLevel(level)
    for name in _OWN_HANDLERS:  # uvicorn sets them to INFO before the app is imported: ours rules
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
