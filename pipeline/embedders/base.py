"""What every embedding provider offers the pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Embedder(Protocol):
    #: Recorded with every vector, so vectors of different models are never compared.
    model: str
    #: The requested vector size, or ``None`` for the model's native size.
    dimensions: int | None

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order. Raises ``TransientError`` or ``PermanentError`` subclasses."""
        ...
