from __future__ import annotations

import pytest

from pipeline.chunking import chunk_pages


def words(n: int, prefix: str = "w") -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


def test_windows_have_the_size_and_overlap_asked_for() -> None:
    chunks = chunk_pages([words(25)], size=10, overlap=3)
    assert [c.token_count for c in chunks] == [10, 10, 10, 4]
    assert chunks[0].text.split()[-3:] == chunks[1].text.split()[:3]
    assert chunks[1].text.split()[0] == "w7"
    assert chunks[-1].text.split()[-1] == "w24"
    assert [c.index for c in chunks] == [0, 1, 2, 3]


def test_exact_fit_leaves_no_sliver_chunk() -> None:
    chunks = chunk_pages([words(17)], size=10, overlap=3)
    assert [c.token_count for c in chunks] == [10, 10]
    assert chunks[-1].text.split()[-1] == "w16"


def test_page_ranges_follow_the_words() -> None:
    pages = [words(6, "a"), "", words(6, "c"), words(2, "d")]
    chunks = chunk_pages(pages, size=5, overlap=1)
    assert [(c.page_start, c.page_end) for c in chunks] == [(1, 1), (1, 3), (3, 4), (4, 4)]
    assert chunks[1].text.split()[0] == "a4"


def test_the_windows_ending_after_a_page_are_those_of_the_whole_document() -> None:
    pages = [words(6, "a"), "", words(6, "c"), words(2, "d")]
    every = chunk_pages(pages, size=5, overlap=1)
    assert chunk_pages(pages, size=5, overlap=1, ending_after=3) == [c for c in every if c.page_end > 3]
    assert [c.index for c in chunk_pages(pages, size=5, overlap=1, ending_after=3)] == [2, 3]


def test_whitespace_is_normalised_and_empty_input_gives_nothing() -> None:
    assert chunk_pages(["  one\n\ttwo  ", "three"], size=8, overlap=0)[0].text == "one two three"
    assert chunk_pages(["", "  \n"], size=8, overlap=2) == []


def test_same_text_same_hash() -> None:
    a = chunk_pages(["alpha beta"], size=8, overlap=0)[0]
    b = chunk_pages(["alpha   beta"], size=8, overlap=0)[0]
    assert a.text_sha256 == b.text_sha256


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (5, 5), (5, -1)])
def test_bad_sizes_are_rejected(size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="overlap"):
        chunk_pages(["a b c"], size=size, overlap=overlap)
