"""An offline, deterministic embedder: signed feature hashing of content words and their pairs.

No model, no network, the same vector for the same text on every machine. Common function words are
left out and repeated features count sublinearly, so what a passage is about (its rarer words)
outweighs the words every passage shares; texts that share those land close together. That is enough
for the pipeline and search to be useful (and testable) before a real embedding provider is set.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence

_WORD = re.compile(r"\w+", re.UNICODE)
DEFAULT_DIMENSIONS = 384
MODEL = "pdfline-hashing-v2"

STOP_WORDS = frozenset([
    "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "for", "from", "had", "has", "have", "he",
    "her", "his", "i", "in", "into", "is", "it", "its", "of", "on", "or", "our", "she", "so", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "to", "was", "we", "were", "what", "when",
    "where", "which", "while", "who", "will", "with", "would", "you", "your",
])  # fmt: skip


class HashingEmbedder:
    def __init__(self, dimensions: int | None = None, model: str | None = None) -> None:
        self.dimensions: int | None = dimensions or DEFAULT_DIMENSIONS
        self.model = model or MODEL

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.embed_one(text) for text in texts]

    def embed_one(self, text: str) -> list[float]:
        size = self.dimensions or DEFAULT_DIMENSIONS
        vector = [0.0] * size
        words = [word for word in (w.lower() for w in _WORD.findall(text)) if word not in STOP_WORDS]
        features = Counter(words + [f"{a} {b}" for a, b in itertools.pairwise(words)])
        for feature, count in features.items():
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            value = int.from_bytes(digest, "little")
            weight = 1.0 + math.log(count)
            vector[value % size] += weight if (value >> 63) & 1 else -weight
        norm = math.sqrt(sum(x * x for x in vector))
        return [x / norm for x in vector] if norm else vector
