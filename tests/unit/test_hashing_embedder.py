from __future__ import annotations

import math

from pipeline.embedders import HashingEmbedder, build_embedder
from pipeline.settings import Settings


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_deterministic_normalised_and_sized() -> None:
    embedder = HashingEmbedder(128)
    first, again = (
        embedder.embed(["The river carries letters"]),
        HashingEmbedder(128).embed(["The river carries letters"]),
    )
    assert first == again
    assert len(first[0]) == 128
    assert math.isclose(math.sqrt(sum(x * x for x in first[0])), 1.0)


def test_shared_words_are_closer_than_unrelated_text() -> None:
    embedder = HashingEmbedder()
    base, near, far = embedder.embed(
        [
            "the harbour master records seven bridges over the canal",
            "seven bridges over the canal, says the harbour master",
            "a clock that runs backwards in the orchard",
        ]
    )
    assert cosine(base, near) > 0.5 > cosine(base, far)


def test_empty_text_gives_a_zero_vector_not_nan() -> None:
    assert HashingEmbedder(16).embed([""]) == [[0.0] * 16]


def test_default_settings_choose_hashing_with_384_dimensions() -> None:
    embedder = build_embedder(Settings())
    assert isinstance(embedder, HashingEmbedder)
    assert embedder.dimensions == 384
    assert embedder.model == "pdfline-hashing-v2"
