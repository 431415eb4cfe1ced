"""How a big document's parse is split into page ranges.

Parsing holds the GIL, so only worker processes share it: a big document gets a range for the
process that opened it and one for each other live process with no parse work of its own. Each
range opens the file again, which costs about a tenth of reading it (pypdf reads the whole page
tree on opening), so ranges are never under ``FEWEST_PAGES_PER_RANGE`` pages, nor over
``parse_range_pages``; and none go to processes with documents of their own waiting or being read,
where a range would only wait behind them and still cost its opening.
"""

from __future__ import annotations

import math

from sqlalchemy import and_, bindparam, func, literal, or_, select
from sqlmodel import Session

from pipeline.context import Context
from pipeline.models import Document, Stage, Status
from pipeline.queues import live_workers

#: Fewer pages than this are not worth a message and a second opening of the file.
FEWEST_PAGES_PER_RANGE = 100

_DOCUMENTS = Document.__table__  # type: ignore[attr-defined]
#: Other documents with parse work a process will take before any range sent now: waiting for their
#: parse, or being read with at least a range's worth of pages to go; counted up to ``most``. One
#: still opening its file has no page count yet: its size stands in, against this document's bytes
#: a page.
_PARSE_WORK_ELSEWHERE = select(func.count()).select_from(
    select(literal(1))
    .where(
        _DOCUMENTS.c.id != bindparam("document_id"),
        or_(
            _DOCUMENTS.c.status == Status.QUEUED,
            and_(
                _DOCUMENTS.c.status == Status.RUNNING,
                _DOCUMENTS.c.stage == Stage.PARSE,
                or_(
                    _DOCUMENTS.c.pages_total - _DOCUMENTS.c.pages_parsed >= bindparam("fewest"),
                    and_(_DOCUMENTS.c.pages_total == 0, _DOCUMENTS.c.size_bytes >= bindparam("fewest_bytes")),
                ),
            ),
        ),
    )
    .limit(bindparam("most"))
    .subquery()
)


def splittable(total: int, most: int) -> bool:
    """Whether a ``total``-page document may be read as more than one range."""
    return total > min(most, FEWEST_PAGES_PER_RANGE)


def other_workers(ctx: Context) -> int:
    """Live worker processes that take parse messages, besides this one (none known without Redis)."""
    return (live_workers(ctx.broker, ctx.settings.worker_heartbeat_timeout_s, parsing=True) or 1) - 1


def plan_ranges(
    session: Session, document: Document | None, total: int, done: set[int], *, most: int, others: int
) -> list[tuple[int, int]]:
    """The ranges of ``document`` still to read (those with a page not in ``done``), sized for the
    ``others`` free to take one. Call it in a transaction that holds the document's row, so that
    parses deciding together decide in turn; without ``document``, no other process is asked."""
    free = free_workers(session, document, total, others) if document is not None else 0
    size = range_size(total, most, free)
    return [
        (first, min(first + size - 1, total))
        for first in range(1, total + 1, size)
        if any(number not in done for number in range(first, min(first + size - 1, total) + 1))
    ]


def range_size(total: int, most: int, free_workers: int) -> int:
    """Pages per range of a ``total``-page document: a share for this worker process and one for
    each other process free to take one."""
    if not splittable(total, most):
        return total
    share = math.ceil(total / (1 + free_workers))
    return min(most, max(FEWEST_PAGES_PER_RANGE, share))


def free_workers(session: Session, document: Document, total: int, others: int) -> int:
    """Of the ``others``, those left after one for each other document with parse work ahead of any
    range sent now: under a backlog, splitting gains nothing and pays for every extra opening."""
    if others <= 0:
        return 0
    params = {
        "document_id": document.id,
        "fewest": FEWEST_PAGES_PER_RANGE,
        "fewest_bytes": math.ceil(FEWEST_PAGES_PER_RANGE * document.size_bytes / total),
        "most": others,
    }
    return others - (session.scalar(_PARSE_WORK_ELSEWHERE, params) or 0)
