from __future__ import annotations

from collections.abc import Callable

import pypdf._codecs
import pypdf._text_extraction._text_extractor as text_extractor
import pytest
from pypdf import PdfReader

import pipeline.pdf  # noqa: F401  (installs the cache, as reading any page does)
from pipeline import pdf_encoding_cache
from tests.conftest import FIXTURES

READABLE = ["plain.pdf", "multipage.pdf", "thirty_pages.pdf", "encrypted_empty_password.pdf"]


def _texts(name: str) -> list[str]:
    return [page.extract_text() for page in PdfReader(FIXTURES / name).pages]


def test_pages_share_one_build_of_the_code_table(monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[str] = []
    original: Callable[[str], dict[int, str]] = pypdf._codecs.encoding_dict_from_named_encoding

    def counted(encoding: str) -> dict[int, str]:
        builds.append(encoding)
        return original(encoding)

    monkeypatch.setattr(pypdf._codecs, "encoding_dict_from_named_encoding", counted)
    pdf_encoding_cache._table.cache_clear()
    assert len(_texts("thirty_pages.pdf")) == 30
    assert builds == ["cp1252"]
    pdf_encoding_cache._table.cache_clear()


def test_each_caller_gets_a_table_of_its_own() -> None:
    first = pdf_encoding_cache.encoding_table("cp1252")
    assert first == pypdf._codecs.encoding_dict_from_named_encoding("cp1252")
    first[0x80] = "changed by one font"
    assert pdf_encoding_cache.encoding_table("cp1252")[0x80] == "\u20ac"


@pytest.mark.parametrize("name", READABLE)
def test_text_is_what_pypdf_alone_extracts(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert text_extractor.encoding_dict_from_named_encoding is pdf_encoding_cache.encoding_table
    cached = _texts(name)
    monkeypatch.setattr(
        text_extractor, "encoding_dict_from_named_encoding", pypdf._codecs.encoding_dict_from_named_encoding
    )
    assert cached == _texts(name)
    assert any(text.strip() for text in cached)


def test_a_pypdf_without_the_names_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(text_extractor, "encoding_dict_from_named_encoding")
    assert pdf_encoding_cache.install() is False
    assert not hasattr(text_extractor, "encoding_dict_from_named_encoding")
