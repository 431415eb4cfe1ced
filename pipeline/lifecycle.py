"""Every change of a document's state, each written together with the event that announces it.

Each transition is one guarded ``UPDATE ... RETURNING``: it takes the row's write lock first (no
read-then-write race between a worker and the API), bumps the document's event counter, and the
event row is inserted in the same transaction. A guard that matches nothing means the document was
deleted, canceled or finished meanwhile, and the caller stops.

Transitions run several times per document per stage, so they are Core statements built once per
shape and reused: building and compiling a fresh ORM statement cost more than the database's work.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Insert, Update, bindparam, case, delete, func, insert, or_, select, update
from sqlmodel import Session

from pipeline.errors import StopProcessing
from pipeline.events import PENDING_EVENTS
from pipeline.models import Chunk, Document, Event, Page, Stage, Status
from pipeline.models.types import utcnow

ACTIVE = (Status.QUEUED, Status.RUNNING)
COUNTERS = (
    "pages_total",
    "pages_parsed",
    "pages_without_text",
    "pages_skipped",
    "chunks_total",
    "chunks_embedded",
    "chunks_stored",
)

_DOCUMENTS = Document.__table__  # type: ignore[attr-defined]
_EVENTS = Event.__table__  # type: ignore[attr-defined]
#: SQL values that may go into a reusable statement: fixed expressions whose only inputs are
#: ``DOCUMENT_ID`` and ``NOW``. Any other SQL value builds a one-off statement.
_REUSABLE: dict[int, ColumnElement[Any]] = {}


def reusable(expression: Any) -> Any:
    """Mark a module-level SQL value (built on ``DOCUMENT_ID`` or ``NOW``) as safe to keep in a
    cached statement; kept alive here, so its identity stays its key."""
    _REUSABLE[id(expression)] = expression
    return expression


#: The bound parameters every transition statement has: the document's id and the time.
DOCUMENT_ID = reusable(bindparam("_document_id"))
NOW = reusable(bindparam("_now"))
#: When a change happened: the clock's time, but never before the document's previous change. The
#: clock is read before the row's lock is taken, so a change that waited for the lock (a cancel,
#: behind a worker's progress write) would otherwise be stamped before the change it follows.
CHANGED_AT = reusable(case((_DOCUMENTS.c.updated_at > NOW, _DOCUMENTS.c.updated_at), else_=NOW))
FIRST_START = reusable(func.coalesce(_DOCUMENTS.c.started_at, NOW))
ONE_MORE_ATTEMPT = reusable(_DOCUMENTS.c.attempts + 1)
ONE_MORE_RECOVERY = reusable(_DOCUMENTS.c.recoveries + 1)


def transition(
    session: Session,
    document_id: str,
    *,
    event: str | None,
    allowed_from: Iterable[Status],
    extra: dict[str, Any] | None = None,
    at: datetime | None = None,
    **values: Any,
) -> Document | None:
    """Apply ``values`` if the document's status is in ``allowed_from``; log ``event`` with the new state.
    ``at``: when the change happened, if not now."""
    now = at or utcnow()
    allowed = tuple(Status(s).value for s in allowed_from)
    params: dict[str, Any] = {"_document_id": document_id, "_now": now}
    if all(not isinstance(v, ColumnElement) or id(v) in _REUSABLE for v in values.values()):
        shape = tuple((name, id(v) if isinstance(v, ColumnElement) else None) for name, v in sorted(values.items()))
        statement = _reusable_update(allowed, shape, event is not None)
        params.update({f"v_{name}": v for name, v in values.items() if not isinstance(v, ColumnElement)})
    else:
        statement = _update(allowed, values, event is not None)
    connection = session.connection()
    row = connection.execute(statement, params).one_or_none()
    if row is None:
        return None
    document = Document.model_construct(**row._mapping)
    if event is not None:
        data = event_data(document, extra)
        pk = connection.execute(_insert_event(), {
            "document_id": document_id, "seq": document.last_event_id, "name": event, "data": data,
            "at": document.updated_at,
        }).scalar_one()  # fmt: skip
        wire = {"pk": pk, "document_id": document_id, "seq": document.last_event_id, "name": event, "data": data}
        session.info.setdefault(PENDING_EVENTS, []).append(wire)
    return document


@cache
def _reusable_update(allowed: tuple[str, ...], shape: tuple[tuple[str, int | None], ...], bump: bool) -> Update:
    values = {name: _REUSABLE[key] if key is not None else bindparam(f"v_{name}") for name, key in shape}
    return _update(allowed, values, bump)


def _update(allowed: tuple[str, ...], values: dict[str, Any], bump: bool) -> Update:
    return (
        update(_DOCUMENTS)
        .where(_DOCUMENTS.c.id == DOCUMENT_ID, or_(*(_DOCUMENTS.c.status == status for status in allowed)))
        .values(updated_at=CHANGED_AT, last_event_id=_DOCUMENTS.c.last_event_id + (1 if bump else 0), **values)
        .returning(*_DOCUMENTS.c)
    )


@cache
def _insert_event() -> Insert:
    return insert(_EVENTS).returning(_EVENTS.c.id)


def event_data(document: Document, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The state an event announces. ``last_event_id`` is the event's own id: with it a client
    orders what it hears from the stream and from the API, which a time of day cannot do."""
    state = document.state()
    data = {
        "document_id": document.id,
        "status": state["status"],
        "stage": state["stage"],
        "progress": state["progress"],
        **{name: state[name] for name in COUNTERS},
        "attempts": state["attempts"],
        "error": state["error"],
        "last_event_id": state["last_event_id"],
        "at": state["updated_at"],
    }
    if extra:
        data.update(extra)
    return data


def begin_stage(
    session: Session, document_id: str, stage: Stage, *, at: datetime | None = None, queued_only: bool = False
) -> Document | None:
    """``at``: when the stage began, if that was before this write (see ``StageRun.write``).
    ``queued_only``: leave a running document as it is."""
    return transition(
        session,
        document_id,
        event="stage",
        allowed_from=(Status.QUEUED,) if queued_only else ACTIVE,
        at=at,
        status=Status.RUNNING,
        stage=stage,
        started_at=FIRST_START,
        heartbeat_at=NOW,
        error_type=None,
        error_message=None,
    )


def hand_over(session: Session, document_id: str, stage: Stage, **counters: Any) -> Document | None:
    """A stage's last commit moves the running document on to ``stage`` (its ``stage`` event), so the
    next stage's message starts without a write of its own (see ``handed_over``)."""
    return transition(
        session, document_id, event="stage", allowed_from=(Status.RUNNING,), stage=stage, heartbeat_at=NOW, **counters
    )


_STATUS = select(_DOCUMENTS.c.status).where(_DOCUMENTS.c.id == bindparam("_document_id"))


def is_active(session: Session, document_id: str) -> bool:
    """Whether the document is there and still queued or running: a read."""
    status = session.execute(_STATUS, {"_document_id": document_id}).scalar()
    return status is not None and Status(status) in ACTIVE


def handed_over(session: Session, document_id: str, stage: Stage) -> bool:
    """Whether the previous stage already moved the running document to ``stage``: a read, where
    ``begin_stage`` would wait for the database's write lock to change nothing."""
    row = session.execute(
        select(_DOCUMENTS.c.status, _DOCUMENTS.c.stage).where(_DOCUMENTS.c.id == bindparam("_document_id")),
        {"_document_id": document_id},
    ).first()
    return (
        row is not None and Status(row.status) is Status.RUNNING and row.stage is not None and Stage(row.stage) is stage
    )


def continue_stage(session: Session, document_id: str) -> Document | None:
    """Another message of a running stage (a range of a big parse) starts: no new ``stage`` event."""
    return transition(session, document_id, event=None, allowed_from=(Status.RUNNING,), heartbeat_at=NOW)


def report_progress(session: Session, document_id: str, **counters: Any) -> Document | None:
    return transition(session, document_id, event="progress", allowed_from=(Status.RUNNING,), **counters)


def hold(session: Session, document_id: str) -> Document:
    """Take a running document's row lock for the rest of the transaction, so what the transaction
    reads next includes every commit made before it (on Postgres too); ``StopProcessing`` otherwise."""
    document = transition(session, document_id, event=None, allowed_from=(Status.RUNNING,))
    if document is None:
        raise StopProcessing(document_id)
    return document


def advance(session: Session, document_id: str, **counters: Any) -> Document:
    """Progress for a running stage (counters are values or SQL expressions); raises
    ``StopProcessing`` when the document is no longer running."""
    document = report_progress(session, document_id, **counters)
    if document is None:
        raise StopProcessing(document_id)
    return document


def _announce_retry(
    session: Session,
    document_id: str,
    reason: tuple[str, str],
    extra: dict[str, Any] | None = None,
    **values: Any,
) -> Document | None:
    """The one shape of a ``retrying`` event: a running document, and why it runs again."""
    error_type, message = reason
    return transition(
        session,
        document_id,
        event="retrying",
        allowed_from=(Status.RUNNING,),
        extra={"retry_reason": {"type": error_type, "message": message}, **(extra or {})},
        **values,
    )


def record_retry(session: Session, document_id: str, *, error_type: str, message: str) -> Document | None:
    return _announce_retry(session, document_id, (error_type, message), attempts=ONE_MORE_ATTEMPT)


def wait_for_provider(session: Session, document_id: str, *, message: str, resume_in_s: float) -> Document | None:
    """Announced as a retry, but no attempt is spent: the stage comes back when the circuit lets it."""
    return _announce_retry(
        session, document_id, ("embedding_unavailable", message), extra={"resume_in_s": round(resume_in_s, 1)}
    )


def recover(session: Session, document: Document) -> Document | None:
    """A running document whose worker went silent: back to work at its stage, announced as a retry."""
    return _announce_retry(
        session,
        document.id,
        ("stalled", "its worker stopped responding; running it again"),
        attempts=ONE_MORE_ATTEMPT,
        recoveries=ONE_MORE_RECOVERY,
        heartbeat_at=NOW,
    )


def fail(session: Session, document_id: str, *, error_type: str, message: str) -> Document | None:
    return transition(
        session,
        document_id,
        event="failed",
        allowed_from=ACTIVE,
        status=Status.FAILED,
        error_type=error_type,
        error_message=message,
        finished_at=CHANGED_AT,
    )


def complete(session: Session, document_id: str, **counters: Any) -> Document | None:
    return transition(
        session,
        document_id,
        event="completed",
        allowed_from=(Status.RUNNING,),
        status=Status.COMPLETED,
        stage=None,
        finished_at=CHANGED_AT,
        **counters,
    )


def requeue_from_scratch(session: Session, document_id: str, *, priority: str) -> Document | None:
    """A finished document goes back to ``queued`` with its derived rows and counters cleared."""
    document = transition(
        session,
        document_id,
        event=None,
        allowed_from=(Status.COMPLETED, Status.FAILED, Status.CANCELED),
        status=Status.QUEUED,
        priority=priority,
        stage=None,
        error_type=None,
        error_message=None,
        started_at=None,
        finished_at=None,
        attempts=0,
        recoveries=0,
        **dict.fromkeys(COUNTERS, 0),
    )
    if document is not None:
        session.execute(delete(Chunk).where(Chunk.document_id == document_id))  # type: ignore[arg-type]
        session.execute(delete(Page).where(Page.document_id == document_id))  # type: ignore[arg-type]
    return document


def cancel(session: Session, document_id: str) -> Document | None:
    """Queued or running → canceled, and its partial rows go. A stage still running on it hits the
    status guard at its next page or batch boundary and stops; its open transaction rolls back.
    The embedding cache stays, so a retry does not pay for the same texts again."""
    document = transition(
        session,
        document_id,
        event="canceled",
        allowed_from=ACTIVE,
        status=Status.CANCELED,
        finished_at=CHANGED_AT,
    )
    if document is not None:
        session.execute(delete(Chunk).where(Chunk.document_id == document_id))  # type: ignore[arg-type]
        session.execute(delete(Page).where(Page.document_id == document_id))  # type: ignore[arg-type]
    return document


def requeue_for_retry(session: Session, document: Document) -> Document | None:
    """Failed or canceled → queued, keeping finished work: a failed document resumes at the stage
    that failed; a canceled one (its partial rows removed) starts again at parse. ``document`` is
    the state the caller saw; the update applies only if the status is still that one."""
    resume = document.stage if document.status == Status.FAILED and document.stage else None
    fresh_start = {} if resume else dict.fromkeys(COUNTERS, 0)
    return transition(
        session,
        document.id,
        event=None,
        allowed_from=(Status(document.status),),
        status=Status.QUEUED,
        stage=resume,
        error_type=None,
        error_message=None,
        finished_at=None,
        recoveries=0,
        **fresh_start,
    )
