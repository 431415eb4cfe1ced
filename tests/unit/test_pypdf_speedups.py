from __future__ import annotations

import base64
import io
import random
from collections.abc import Callable
from typing import Any

import pypdf._codecs
import pypdf._page as page_module
import pypdf._text_extraction as text_extraction
import pypdf._text_extraction._text_extractor as text_extractor
import pypdf.filters as filters
import pypdf.generic._data_structures as parser
import pypdf.generic._utils as strings
import pytest
from pypdf import PdfReader
from pypdf.generic import ArrayObject, NameObject, NullObject, NumberObject
from pypdf.generic._font import Font

import pipeline.pdf  # noqa: F401  (installs the fast paths, as reading any page does)
from pipeline import pypdf_speedups
from pipeline.pypdf_speedups import decoding
from tests.conftest import FIXTURES

READABLE = ["plain.pdf", "multipage.pdf", "thirty_pages.pdf", "encrypted_empty_password.pdf"]
#: Bytes that make a literal string interesting to parse, and some that do not.
PIECES = [b"a", b"Z", b" ", b"(", b")", b"\\", b"n", b"0", b"7", b"8", b"\n", b"\r", b"\xe9", b"\\(", b"\\)"]


def _texts(name: str) -> list[str]:
    return [page.extract_text() for page in PdfReader(FIXTURES / name).pages]


def _result(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """What a call returned, or the error it raised, with its message."""
    try:
        return ("returned", function(*args, **kwargs))
    except Exception as exc:
        return ("raised", type(exc), str(exc))


def _outcome(read: Callable[..., Any], data: bytes, encoding: Any) -> tuple[Any, ...]:
    stream = io.BytesIO(data)
    try:
        value = read(stream, encoding)
    except Exception as exc:
        return ("raised", type(exc))
    return (type(value), value, stream.tell())


def test_reading_any_page_installs_all_six() -> None:
    assert text_extractor.encoding_dict_from_named_encoding is pypdf_speedups.encoding_table
    assert parser.read_string_from_stream.pypdf_reader is strings.read_string_from_stream  # type: ignore[attr-defined]
    assert filters.a85decode is pypdf_speedups.a85decode
    assert text_extractor.get_text_operands.pypdf_operands is text_extraction.get_text_operands  # type: ignore[attr-defined]
    assert text_extractor.get_display_str.pypdf_display_str is text_extraction.get_display_str  # type: ignore[attr-defined]
    assert page_module.Font.font_class is Font  # type: ignore[attr-defined]
    assert sorted(pypdf_speedups.install()) == [
        "Font",
        "a85decode",
        "encoding_dict_from_named_encoding",
        "get_display_str",
        "get_text_operands",
        "read_string_from_stream",
    ]


def test_pages_share_one_build_of_the_code_table(monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[str] = []
    original = pypdf._codecs.encoding_dict_from_named_encoding

    def counted(encoding: str) -> dict[int, str]:
        builds.append(encoding)
        return original(encoding)

    monkeypatch.setattr(pypdf._codecs, "encoding_dict_from_named_encoding", counted)
    decoding._table.cache_clear()
    assert len(_texts("thirty_pages.pdf")) == 30
    assert builds == ["cp1252"]
    decoding._table.cache_clear()


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


def test_plain_ascii85_skips_the_standard_library_and_the_rest_goes_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    standard = base64.a85decode

    def counted(data: bytes, **options: Any) -> bytes:
        calls.append(data)
        return standard(data, **options)

    monkeypatch.setattr(base64, "a85decode", counted)
    text = b"BT /F1 12 Tf 72 712 Td (Hello, world) Tj ET"
    assert pypdf_speedups.a85decode(base64.a85encode(text, adobe=True, wrapcol=20), adobe=True) == text
    assert calls == []
    assert pypdf_speedups.a85decode(b"z!!~>", adobe=True) == b"\0\0\0\0\0"  # 'z': four zero bytes at once
    with pytest.raises(ValueError, match="Non-Ascii85 digit"):
        pypdf_speedups.a85decode(b"ab{cd~>", adobe=True)
    assert len(calls) == 2


def test_ascii85_decodes_as_the_standard_library_does() -> None:
    """Bytes or error message, for encodings with line breaks, markers, padding, and bytes dropped
    or put in where they do not belong."""
    generate = random.Random(20261128)
    ignored = [b" \t\n\r\v", b"\x00\t\n\x0c\r ", b"!"]
    for _ in range(4000):
        source = generate.randbytes(generate.randrange(0, 40)) + b"\0" * generate.choice([0, 0, 4, 8])
        adobe = generate.random() < 0.5
        encoded = bytearray(base64.a85encode(source, adobe=adobe, wrapcol=generate.choice([0, 7, 75])))
        for _ in range(generate.choice([0, 0, 1, 2])):
            at = generate.randrange(0, len(encoded) + 1)
            encoded[at:at] = generate.choice([b"z", b"~", b">", b"<~", b" ", b"\n", b"\x00", b"u", b"v", b"{", b"s8W-"])
        if encoded and generate.random() < 0.1:
            del encoded[generate.randrange(len(encoded))]
        data = bytes(encoded)
        for options in (
            {"adobe": adobe},
            {"adobe": not adobe},
            {"adobe": adobe, "ignorechars": generate.choice(ignored)},
        ):
            assert _result(pypdf_speedups.a85decode, data, **options) == _result(base64.a85decode, data, **options), (
                data,
                options,
            )


def _fonts() -> list[Font]:
    """Fonts of each kind the fast path takes or leaves: encoding tables (with and without names
    of their own, a value that is no string), named encodings, no default width."""
    cp1252 = pypdf._codecs.encoding_dict_from_named_encoding("cp1252")
    widths: dict[str, float] = {"a": 556.5, "b": 0.1, "c": 278, " ": 250, "A": 667, "\u00c6": 1000, "default": 500}
    no_default = {char: width for char, width in widths.items() if char != "default"}
    return [
        Font(name="F1", encoding=cp1252, character_widths=widths),
        Font(name="F2", encoding=cp1252, character_widths=widths, space_char="a", space_width=277.5),
        Font(name="F3", encoding={**cp1252, 0x41: "\u00c6", 0x42: "ffi"}, character_widths=widths),
        Font(name="F4", encoding={0x61: "x"}, character_widths=widths),
        Font(name="F5", encoding={**cp1252, 0x43: 7}, character_widths=widths),  # type: ignore[dict-item]
        Font(name="F6", encoding=cp1252, character_widths=no_default),
        Font(name="F7", encoding="utf-16-be", character_widths=widths),
        Font(name="F8", encoding="charmap", character_widths=widths),
    ]


def test_text_operands_are_what_pypdf_makes_of_them() -> None:
    """Text, kind and width (to the last bit), or the error, against pypdf's, string after string,
    fonts changing in between and in place (the fast path keeps a table per font)."""
    read = pypdf_speedups.text_operands_reader(
        text_extraction.get_text_operands, text_extraction.mult, text_extraction.orient
    )
    generate = random.Random(20261128)
    fonts = _fonts()
    tables = [font.encoding for font in fonts if isinstance(font.encoding, dict)]
    upright, turned = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 1.0, -1.0, 0.0, 0.0, 0.0]
    font = fonts[0]
    for _ in range(4000):
        if generate.random() < 0.2:
            font = generate.choice(fonts)
        if generate.random() < 0.05:
            font.space_width = generate.choice([250, 277.5, 300])
            font.space_char = generate.choice([" ", " ", "a"])
        if generate.random() < 0.05 and isinstance(font.encoding, dict):
            font.encoding = generate.choice(tables)
        operand: Any = generate.choice(
            [bytes(generate.choices(b"abc ABC\x80\xe9\x00", k=generate.randint(0, 12))) for _ in range(8)]
            + ["str", b"", 5]
        )
        operands = generate.choice([[operand], [operand], [operand, 1.0], []])
        cm_matrix = generate.choice([upright, upright, turned])
        arguments = (operands, cm_matrix, upright, font, generate.choice([(0,), (0, 90)]))
        assert _result(read, *arguments) == _result(text_extraction.get_text_operands, *arguments), arguments


def test_a_font_that_is_gone_leaves_no_table_behind() -> None:
    read = pypdf_speedups.text_operands_reader(
        text_extraction.get_text_operands, text_extraction.mult, text_extraction.orient
    )
    upright = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    kept = _fonts()[0]
    for _ in range(50):
        gone = _fonts()[1]
        for font, operands in ((gone, [b"abc"]), (kept, [b"a b"])):
            arguments = (operands, upright, upright, font, (0,))
            assert read(*arguments) == text_extraction.get_text_operands(*arguments)
    del gone
    assert list(read.tables) == [id(kept)]  # type: ignore[attr-defined]


def test_display_strings_are_what_pypdf_makes_of_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run, direction and completed runs, or the error, against pypdf's: character maps with
    names of their own, longer keys, values that are no strings, right-to-left characters in the
    text or the map, runs already right to left, and a custom right-to-left range set and unset."""
    read = pypdf_speedups.display_str_reader(text_extraction.get_display_str, text_extraction)
    generate = random.Random(20261129)
    maps: list[dict[Any, Any]] = [
        {},
        {"a": "x", "b": "\ufb01", "c": ""},
        {"a": "\u05d0", "ab": "z", 7: "q"},
        {"b": 7},
        {"c": None},
        {"a": "\u0627\u0644"},
    ]
    cp1252 = pypdf._codecs.encoding_dict_from_named_encoding("cp1252")
    fonts = [Font(name=f"F{number}", encoding=cp1252, character_map=dict(each)) for number, each in enumerate(maps)]
    font = fonts[0]
    for _ in range(4000):
        if generate.random() < 0.2:
            font = generate.choice(fonts)
        if generate.random() < 0.05:
            font.character_map = dict(generate.choice(maps))
        if generate.random() < 0.03:
            custom = generate.choice([("", ""), ("a", "b"), ("x", "")])
            monkeypatch.setattr(text_extraction, "CUSTOM_RTL_MIN", custom[0])
            monkeypatch.setattr(text_extraction, "CUSTOM_RTL_MAX", custom[1])
        operands = "".join(generate.choices("abc \u05d0\u0661.1", k=generate.randint(0, 10)))
        arguments = ("so far ", [], [], None, font, operands, 12.0, generate.random() < 0.2, None)
        assert _result(read, *arguments) == _result(text_extraction.get_display_str, *arguments), arguments


def test_pages_that_share_a_font_resource_share_its_font() -> None:
    builds: list[object] = []

    class Counted:
        @staticmethod
        def from_font_resource(resource: Any) -> Font:
            builds.append(resource)
            return Font.from_font_resource(resource)

    fonts = pypdf_speedups.FontsKeptPerResource(Counted)
    reader = PdfReader(FIXTURES / "thirty_pages.pdf")
    resources = [page["/Resources"]["/Font"]["/F1"].get_object() for page in reader.pages]
    kept = {id(fonts.from_font_resource(resource)) for resource in resources}
    assert len(kept) == len({id(resource) for resource in resources}) == len(builds) == 1
    resources[0][NameObject("/Encoding")] = NameObject("/MacRomanEncoding")  # a changed resource: built again
    again = fonts.from_font_resource(resources[0])
    assert len(builds) == 2
    assert id(again) not in kept
    assert again.character_map == Font.from_font_resource(resources[0]).character_map


@pytest.mark.parametrize("resource", [NullObject(), ArrayObject(), NumberObject(3), {"/Subtype": "/Type1"}])
def test_a_font_resource_of_another_type_gets_what_pypdf_makes_of_it(resource: Any) -> None:
    fonts = pypdf_speedups.FontsKeptPerResource(Font)
    assert _result(fonts.from_font_resource, resource) == _result(Font.from_font_resource, resource)


@pytest.mark.parametrize("name", READABLE)
def test_text_is_what_pypdf_alone_extracts(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _texts(name)
    monkeypatch.setattr(
        text_extractor, "encoding_dict_from_named_encoding", pypdf._codecs.encoding_dict_from_named_encoding
    )
    monkeypatch.setattr(parser, "read_string_from_stream", strings.read_string_from_stream)
    monkeypatch.setattr(filters, "a85decode", base64.a85decode)
    monkeypatch.setattr(text_extractor, "get_text_operands", text_extraction.get_text_operands)
    monkeypatch.setattr(text_extractor, "get_display_str", text_extraction.get_display_str)
    monkeypatch.setattr(page_module, "Font", Font)
    assert fast == _texts(name)
    assert any(text.strip() for text in fast)


def test_a_pypdf_without_the_names_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(text_extractor, "encoding_dict_from_named_encoding")
    monkeypatch.delattr(strings, "read_string_from_stream")
    monkeypatch.delattr(filters, "a85decode")
    monkeypatch.delattr(text_extraction, "get_text_operands")
    monkeypatch.delattr(text_extraction, "get_display_str")
    monkeypatch.delattr(Font, "from_font_resource")
    plain_parser = parser.read_string_from_stream
    assert pypdf_speedups.install() == []
    assert not hasattr(text_extractor, "encoding_dict_from_named_encoding")
    assert parser.read_string_from_stream is plain_parser
