"""An offline, deterministic embedder: signed feature hashing of words and word pairs.

No model, no network, the same vector for the same text on every machine. Texts that share words
land close together, which is enough for the pipeline to be useful (and testable) before a real
embedding provider is configured.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Sequence

_WORD = re.compile(r"\w+", re.UNICODE)
DEFAULT_DIMENSIONS = 384


class HashingEmbedder:
    def __init__(self, dimensions: int | None = None, model: str | None = None) -> None:
        self.dimensions: int | None = dimensions or DEFAULT_DIMENSIONS
        self.model = model or "pdfline-hashing-v1"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.embed_one(text) for text in texts]

    def embed_one(self, text: str) -> list[float]:
        size = self.dimensions or DEFAULT_DIMENSIONS
        vector = [0.0] * size
        words = [word.lower() for word in _WORD.findall(text)]
        features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        for feature in features:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            value = int.from_bytes(digest, "little")
            vector[value % size] += 1.0 if (value >> 63) & 1 else -1.0
        norm = math.sqrt(sum(x * x for x in vector))
        return [x / norm for x in vector] if norm else vector
