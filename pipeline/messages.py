"""The names the API, the worker, the middleware and recovery agree on: one actor per (step, priority).

Redis has no broker-side priority, so each priority gets queues of its own, and each step an actor
per priority whose dramatiq ``priority`` makes a worker run the higher one first among the messages
it has fetched. Within a priority, embed and store (and embed_ahead) have a queue apart from parse
(``.vectors``): behind a backlog of uploads, a parsed document's embedding (mostly waiting on the
provider) starts at once instead of queueing behind every other document's parse, and finishing
documents go first.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pipeline.models import Stage


class Priority(StrEnum):
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


#: dramatiq runs the lowest number first.
ACTOR_PRIORITY = {Priority.HIGH: 0, Priority.NORMAL: 10, Priority.LOW: 20}
#: The queue of embed and store, beside each priority's parse queue.
VECTORS_SUFFIX = ".vectors"
#: A message option: the sender's last commit moved the document to the message's stage already.
HANDED_OVER = "pdfline_handed_over"


class Step(StrEnum):
    """A message's kind of work. ``parse_range`` is one slice of a big document's parse;
    ``embed_ahead`` embeds a big document's opening pages while the rest is still being read."""

    PARSE = "parse"
    PARSE_RANGE = "parse_range"
    EMBED = "embed"
    STORE = "store"
    EMBED_AHEAD = "embed_ahead"

    @property
    def stage(self) -> Stage:
        if self is Step.PARSE_RANGE:
            return Stage.PARSE
        return Stage.EMBED if self is Step.EMBED_AHEAD else Stage(self.value)

    @property
    def finishes(self) -> bool:
        """Embed and store: the steps that finish a parsed document."""
        return self in (Step.EMBED, Step.STORE)

    @property
    def moves_document(self) -> bool:
        """All but ``embed_ahead``, which only fills the embedding cache: its messages neither move
        their document through its states nor fail it."""
        return self is not Step.EMBED_AHEAD

    @property
    def begins_in_its_first_write(self) -> bool:
        """Parse: its stage begins in the first transaction it writes, not in one of its own before it
        (``StageRun.write``). A small document's parse writes once, when it hands the document over:
        a transaction of its own was one of a small document's four, and on an idle pipeline about
        2 ms of its way. Meanwhile the document shows ``queued`` until its first progress write (the
        progress interval at most, plus a page)."""
        return self is Step.PARSE

    @property
    def waits_on_provider(self) -> bool:
        """The steps on the ``.vectors`` queues: work that mostly waits on the provider or the database."""
        return self.finishes or self is Step.EMBED_AHEAD


@dataclass(frozen=True)
class Route:
    step: Step
    priority: Priority

    @property
    def actor_name(self) -> str:
        return self.step.value if self.priority is Priority.NORMAL else f"{self.step.value}.{self.priority.value}"

    @property
    def actor_priority(self) -> int:
        """Among the messages a worker has fetched: ``embed_ahead`` first (it is of use only while
        its document is still being read), then the steps that finish a document, then parses."""
        offset = -1 if self.step is Step.EMBED_AHEAD else 0 if self.step.finishes else 1
        return ACTOR_PRIORITY[self.priority] + offset

    def queue_name(self, base: str) -> str:
        return queue_name(base, self.priority) + (VECTORS_SUFFIX if self.step.waits_on_provider else "")


def queue_name(base: str, priority: Priority) -> str:
    return base if priority is Priority.NORMAL else f"{base}.{priority.value}"


def parse_queue_names(base: str) -> list[str]:
    """The queues of parse and parse_range messages, one per priority."""
    return [queue_name(base, priority) for priority in Priority]


def vectors_queue_names(base: str) -> list[str]:
    """The queues of embed, store and embed_ahead messages, one per priority."""
    return [queue_name(base, priority) + VECTORS_SUFFIX for priority in Priority]


def queue_names(base: str) -> list[str]:
    """Every queue a stage message can be on."""
    return [
        name
        for priority in Priority
        for name in (queue_name(base, priority), queue_name(base, priority) + VECTORS_SUFFIX)
    ]


ROUTES: dict[str, Route] = {
    route.actor_name: route for route in (Route(step, priority) for step in Step for priority in Priority)
}


def route_of(actor_name: str) -> Route | None:
    """The route of a document-carrying actor; ``None`` for anything else (the periodic jobs)."""
    return ROUTES.get(actor_name)
