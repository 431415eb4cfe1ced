"""The failures a document can end with, and which of them are worth retrying."""

from __future__ import annotations

import sqlite3

import redis.exceptions
from dramatiq import Retry
from dramatiq.middleware import MiddlewareError, TimeLimitExceeded
from sqlalchemy.exc import DBAPIError, OperationalError


class PipelineError(Exception):
    """An error with a stable ``type`` that users, scripts and the API can rely on."""

    type = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PermanentError(PipelineError):
    """Retrying cannot help: the document fails at once."""


class NotAPdf(PermanentError):
    type = "not_a_pdf"


class Encrypted(PermanentError):
    type = "encrypted"


class CorruptPdf(PermanentError):
    type = "corrupt_pdf"


class TooManyPages(PermanentError):
    type = "too_many_pages"


class NoText(PermanentError):
    type = "no_text"


class StageTimeLimit(PermanentError):
    """Raised by a stage itself at a page or batch boundary, where stopping is safe."""

    type = "time_limit"


class EmbeddingRejected(PermanentError):
    """The provider refused the request itself (bad key, unknown model): waiting will not fix it."""

    type = "embedding_rejected"


class ProviderOutage(PermanentError):
    """The provider stayed down for longer than a document may wait for it; retry it later."""

    type = "embedding_unavailable"


class TransientError(PipelineError):
    """Worth retrying with backoff."""


class EmbeddingUnavailable(TransientError):
    type = "embedding_unavailable"

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StopProcessing(Exception):
    """The document was deleted or moved on while a stage ran: stop quietly, fail nothing."""


class StageNotStarted(MiddlewareError):
    """The document could not be marked running (its ``__cause__`` says why). A ``MiddlewareError``,
    because dramatiq logs and swallows any other error of a middleware's before-hook and runs the
    actor anyway: the stage would find its document not running, stop, and leave it queued."""


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, StageNotStarted) and exc.__cause__ is not None:
        return is_transient(exc.__cause__)
    if isinstance(exc, TransientError | Retry):
        return True
    if isinstance(exc, PipelineError | TimeLimitExceeded):
        return False
    if isinstance(exc, OperationalError | sqlite3.OperationalError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, ConnectionError | TimeoutError | redis.exceptions.ConnectionError)


def describe(exc: BaseException, stage: str, time_limit_s: float) -> tuple[str, str]:
    """The ``(type, message)`` a document records when ``exc`` ends it."""
    if isinstance(exc, Retry | StageNotStarted) and exc.__cause__ is not None:
        return describe(exc.__cause__, stage, time_limit_s)
    if isinstance(exc, TimeLimitExceeded):
        return "time_limit", f"the {stage} stage ran longer than its limit of {time_limit_s:g}s"
    if isinstance(exc, PipelineError):
        return exc.type, exc.message
    if isinstance(exc, OperationalError | sqlite3.OperationalError):
        return "database_unavailable", f"the database kept failing: {_first_line(exc)}"
    if is_transient(exc):
        return "transient_error", f"{type(exc).__name__}: {_first_line(exc)}"
    return "internal_error", f"{type(exc).__name__}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:500] if text else ""
