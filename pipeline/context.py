"""Everything a process needs to run stages, built once from settings and passed in explicitly.

Tests build their own ``Context`` (a StubBroker, a temporary database) instead of patching globals.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import dramatiq
from sqlalchemy import Engine
from sqlmodel import Session

from pipeline.embedders import Embedder, build_embedder
from pipeline.events import PENDING_EVENTS, EventPublisher, NullPublisher
from pipeline.messages import HANDED_OVER, Priority, Route, Step
from pipeline.models import Stage
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.stages.provider import GuardedProvider


@dataclass
class Context:
    settings: Settings
    broker: dramatiq.Broker
    engine: Engine
    publisher: EventPublisher = field(default_factory=NullPublisher)
    #: Vector dimensions whose search index this process has made sure of.
    indexed_dimensions: set[int] = field(default_factory=set)

    @cached_property
    def embedder(self) -> Embedder:
        return build_embedder(self.settings)

    @cached_property
    def provider(self) -> GuardedProvider:
        """One per process: its lanes carry every embedding request the process makes."""
        from pipeline.stages.provider import GuardedProvider

        return GuardedProvider(self)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on any exception; the
        events it wrote are published once the commit has succeeded."""
        with Session(self.engine, expire_on_commit=False) as session:
            with session.begin():
                yield session
            events = session.info.pop(PENDING_EVENTS, [])
        if events:
            self.publisher.publish(events)

    def upload_path(self, document_id: str) -> Path:
        return self.settings.uploads_dir / f"{document_id}.pdf"

    def send(
        self,
        step: Step | Stage,
        document_id: str,
        *args: int,
        priority: str = Priority.NORMAL,
        handed_over: bool = False,
    ) -> None:
        """Queue a document's next step on the queues of its priority. ``handed_over``: the sender's
        last commit already moved the document to this step's stage (see ``lifecycle.hand_over``)."""
        route = Route(Step(step.value), Priority(priority))
        options = {HANDED_OVER: True} if handed_over else {}
        self.broker.get_actor(route.actor_name).send_with_options(args=(document_id, *args), **options)
