"""One message's turn at a document: what a stage needs to do its work and hand on the next step."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.context import Context
from pipeline.messages import Step
from pipeline.stages.pacing import Deadline


@dataclass(frozen=True)
class StageRun:
    ctx: Context
    document_id: str
    priority: str
    deadline: Deadline

    def send(self, step: Step, *args: int, handed_over: bool = False) -> None:
        """Queue the document's next step at the document's priority."""
        self.ctx.send(step, self.document_id, *args, priority=self.priority, handed_over=handed_over)
