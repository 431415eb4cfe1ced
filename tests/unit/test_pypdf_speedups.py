from __future__ import annotations

import io
import random
from collections.abc import Callable
from typing import Any

import pypdf._codecs
import pypdf._text_extraction._text_extractor as text_extractor
import pypdf.generic._data_structures as parser
import pypdf.generic._utils as strings
import pytest
from pypdf import PdfReader

import pipeline.pdf  # noqa: F401  (installs the fast paths, as reading any page does)
from pipeline import pypdf_speedups
from tests.conftest import FIXTURES

READABLE = ["plain.pdf", "multipage.pdf", "thirty_pages.pdf", "encrypted_empty_password.pdf"]
#: Bytes that make a literal string interesting to parse, and some that do not.
PIECES = [b"a", b"Z", b" ", b"(", b")", b"\\", b"n", b"0", b"7", b"8", b"\n", b"\r", b"\xe9", b"\\(", b"\\)"]


def _texts(name: str) -> list[str]:
    return [page.extract_text() for page in PdfReader(FIXTURES / name).pages]


def _outcome(read: Callable[..., Any], data: bytes, encoding: Any) -> tuple[Any, ...]:
    stream = io.BytesIO(data)
    try:
        value = read(stream, encoding)
    except Exception as exc:
        return ("raised", type(exc))
    return (type(value), value, stream.tell())


def test_reading_any_page_installs_both() -> None:
    assert text_extractor.encoding_dict_from_named_encoding is pypdf_speedups.encoding_table
    assert parser.read_string_from_stream.pypdf_reader is strings.read_string_from_stream  # type: ignore[attr-defined]
    assert sorted(pypdf_speedups.install()) == ["encoding_dict_from_named_encoding", "read_string_from_stream"]


def test_pages_share_one_build_of_the_code_table(monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[str] = []
    original = pypdf._codecs.encoding_dict_from_named_encoding

    def counted(encoding: str) -> dict[int, str]:
        builds.append(encoding)
        return original(encoding)

    monkeypatch.setattr(pypdf._codecs, "encoding_dict_from_named_encoding", counted)
    pypdf_speedups._table.cache_clear()
    assert len(_texts("thirty_pages.pdf")) == 30
    assert builds == ["cp1252"]
    pypdf_speedups._table.cache_clear()


def test_each_caller_gets_a_table_of_its_own() -> None:
    first = pypdf_speedups.encoding_table("cp1252")
    assert first == pypdf._codecs.encoding_dict_from_named_encoding("cp1252")
    first[0x80] = "changed by one font"
    assert pypdf_speedups.encoding_table("cp1252")[0x80] == "\u20ac"


def test_plain_strings_skip_pypdf_and_the_others_go_to_it() -> None:
    calls: list[bytes] = []

    def pypdf_reader(stream: io.BytesIO, encoding: Any = None) -> Any:
        calls.append(stream.getvalue()[stream.tell() :])
        return strings.read_string_from_stream(stream, encoding)

    read = pypdf_speedups.string_reader(pypdf_reader, strings.create_string_object)
    assert read(io.BytesIO(b"(Hello, world) Tj"), None) == "Hello, world"
    assert calls == []
    assert read(io.BytesIO(b"(a \\(b\\)) Tj"), None) == "a (b)"
    assert read(io.BytesIO(b"(a (b)) Tj"), None) == "a (b)"
    assert len(calls) == 2


@pytest.mark.parametrize("encoding", [None, pypdf._codecs.encoding_dict_from_named_encoding("cp1252")])
def test_strings_read_as_pypdf_reads_them(encoding: Any) -> None:
    """Value, type, where the stream is left, or the error: the same as pypdf's, string by string."""
    read = pypdf_speedups.string_reader(strings.read_string_from_stream, strings.create_string_object)
    generate = random.Random(20261128)
    for _ in range(3000):
        body = b"".join(generate.choices(PIECES, k=generate.randint(0, 10)))
        data = b"(" + body + generate.choice([b")", b") Tj", b"", b")(x)"])
        assert _outcome(read, data, encoding) == _outcome(strings.read_string_from_stream, data, encoding), data


@pytest.mark.parametrize("name", READABLE)
def test_text_is_what_pypdf_alone_extracts(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _texts(name)
    monkeypatch.setattr(
        text_extractor, "encoding_dict_from_named_encoding", pypdf._codecs.encoding_dict_from_named_encoding
    )
    monkeypatch.setattr(parser, "read_string_from_stream", strings.read_string_from_stream)
    assert fast == _texts(name)
    assert any(text.strip() for text in fast)


def test_a_pypdf_without_the_names_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(text_extractor, "encoding_dict_from_named_encoding")
    monkeypatch.delattr(strings, "read_string_from_stream")
    plain_parser = parser.read_string_from_stream
    assert pypdf_speedups.install() == []
    assert not hasattr(text_extractor, "encoding_dict_from_named_encoding")
    assert parser.read_string_from_stream is plain_parser
