"""Cut page texts into overlapping windows of tokens, each knowing the pages it spans.

A token here is a whitespace-separated word: no tokenizer download, deterministic, and close enough
to a model's tokens for sizing chunks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChunkSpec:
    index: int
    text: str
    page_start: int
    page_end: int
    token_count: int

    @property
    def text_sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def chunk_pages(pages: Sequence[str], *, size: int, overlap: int, ending_after: int = 0) -> list[ChunkSpec]:
    """``pages[0]`` is page 1. Windows of ``size`` tokens, each starting ``size - overlap`` after the last.
    ``ending_after``: only the windows whose last page comes after that page (a caller that has the
    others already), numbered as among all windows."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError("need size >= 1 and 0 <= overlap < size")
    words: list[str] = []
    page_of: list[int] = []
    for number, text in enumerate(pages, start=1):
        page_words = text.split()
        words.extend(page_words)
        page_of.extend([number] * len(page_words))

    chunks: list[ChunkSpec] = []
    for index, start in enumerate(_window_starts(len(words), size, size - overlap)):
        end = min(start + size, len(words))
        if page_of[end - 1] <= ending_after:
            continue
        chunks.append(
            ChunkSpec(
                index=index,
                text=" ".join(words[start:end]),
                page_start=page_of[start],
                page_end=page_of[end - 1],
                token_count=end - start,
            )
        )
    return chunks


def _window_starts(total: int, size: int, step: int) -> Iterable[int]:
    start = 0
    while start < total:
        yield start
        if start + size >= total:
            return
        start += step
