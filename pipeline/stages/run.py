"""One message's turn at a document: what a stage needs to do its work and hand on the next step."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from pipeline import lifecycle
from pipeline.context import Context
from pipeline.errors import StopProcessing
from pipeline.messages import Step
from pipeline.models import Stage
from pipeline.stages.pacing import Deadline


@dataclass
class StageRun:
    ctx: Context
    document_id: str
    priority: str
    deadline: Deadline
    #: Set while the message's stage is still to begin, in its first write (see
    #: ``Step.begins_in_its_first_write``): when the message started.
    unbegun_since: datetime | None = None

    def send(self, step: Step, *args: int, handed_over: bool = False) -> None:
        """Queue the document's next step at the document's priority."""
        self.ctx.send(step, self.document_id, *args, priority=self.priority, handed_over=handed_over)

    @contextmanager
    def write(self, stage: Stage) -> Iterator[Session]:
        """A write transaction of the stage's. The first one of a message whose stage is still to
        begin begins it, dated when the message started, and stops the stage if the document is
        no longer queued or running."""
        since = self.unbegun_since
        with self.ctx.session() as session:
            if since is not None and lifecycle.begin_stage(session, self.document_id, stage, at=since) is None:
                raise StopProcessing(self.document_id)
            yield session
        self.unbegun_since = None
