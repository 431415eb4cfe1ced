"""Four of pypdf's slow paths in text extraction, replaced by ones that give the same results.

- Its text extractor builds the WinAnsi (cp1252) code table afresh, 256 single-byte decodes, for
  every page: it starts each page with a placeholder font carrying that table. Here it gets a copy
  of a table built once (a copy, so that a font can still change its own).
- Its content-stream parser reads each literal string ``(...)`` a byte at a time in Python. A
  string with no escape and no nested parenthesis is taken here in one slice; any other string is
  left to pypdf.
- It decodes ASCII85 streams (ReportLab writes every page's content so) with the standard library's
  ``base64.a85decode``, a Python loop over each byte. Here a stream of plain 5-digit groups is
  decoded a group at a time; any other (a ``z``, a bad digit, an overflow) goes to that function.
- For each string a page shows, it maps every byte through the font's encoding table and sums the
  characters' widths in Python loops, asking the font for each character's width again in every
  string. Here the bytes are mapped by ``str.translate`` and the widths summed in C, in the same
  order, from a table kept for each font (see ``text_operands_reader``).

On the benchmark's generated pages, which show each line as one long string, the first two cost 12%
and 21% of the CPU of extracting text, and of what was left the last two together 37% (instructions
counted by callgrind); on a pdfTeX manual's short strings between kerning offsets, the first two
nothing measurable and the last two 6%. These are pypdf 7.1's private names: where a release no
longer has one, ``install`` leaves that path to pypdf, which is then only slower.
"""

from __future__ import annotations

import base64
import importlib
import io
import logging
import operator
import re
import struct
import weakref
from collections.abc import Callable
from functools import cache, reduce
from typing import Any

log = logging.getLogger(__name__)

_CODECS = "pypdf._codecs"
_EXTRACTOR = "pypdf._text_extraction._text_extractor"
_PARSER = "pypdf.generic._data_structures"
_STRINGS = "pypdf.generic._utils"
_TABLE = "encoding_dict_from_named_encoding"
_READ_STRING = "read_string_from_stream"
_MAKE_STRING = "create_string_object"
_FILTERS = "pypdf.filters"
_A85 = "a85decode"
_OPERANDS_HOME = "pypdf._text_extraction"
_OPERANDS = "get_text_operands"

#: A literal string's bytes up to the first that needs pypdf's care: a parenthesis or an escape.
_PLAIN = re.compile(rb"[^()\\]*")
_CLOSE = ord(")")
#: ASCII85's digits, ``!`` to ``u``, and each byte's value as one (wrapped for the others).
_A85_DIGITS = bytes(range(33, 118))
_A85_VALUES = bytes((byte - 33) % 256 for byte in range(256))


@cache
def _table(encoding: str) -> dict[int, str]:
    return dict(getattr(importlib.import_module(_CODECS), _TABLE)(encoding))


def encoding_table(encoding: str) -> dict[int, str]:
    """What pypdf's own function returns for ``encoding``, without decoding 256 bytes each time."""
    return dict(_table(encoding))


def string_reader(pypdf_reader: Callable[..., Any], make_string: Callable[..., Any]) -> Callable[..., Any]:
    """pypdf's ``read_string_from_stream`` with a fast path: ``stream`` is at a string's opening
    parenthesis, and a string closed before any parenthesis or backslash is one slice."""

    def read_string_from_stream(stream: Any, forced_encoding: Any = None) -> Any:
        if type(stream) is io.BytesIO:
            start = stream.tell() + 1
            with stream.getbuffer() as buffer:
                end = _PLAIN.match(buffer, start).end()
                data = bytes(buffer[start:end]) if end < len(buffer) and buffer[end] == _CLOSE else None
            if data is not None:
                stream.seek(end + 1)
                return make_string(data, forced_encoding)
        return pypdf_reader(stream, forced_encoding)

    read_string_from_stream.pypdf_reader = pypdf_reader  # type: ignore[attr-defined]
    return read_string_from_stream


def a85decode(b: Any, *, foldspaces: bool = False, adobe: bool = False, ignorechars: Any = b" \t\n\r\v") -> bytes:
    """``base64.a85decode``, the same bytes or the same error: a stream of digits only (once the
    ignored bytes are gone) is decoded here, anything else by the standard library."""
    if (
        foldspaces
        or type(b) is not bytes
        or type(ignorechars) is not bytes
        or len(ignorechars.translate(None, _A85_DIGITS + b"z")) != len(ignorechars)
    ):
        return base64.a85decode(b, foldspaces=foldspaces, adobe=adobe, ignorechars=ignorechars)
    data = b
    if adobe:
        if not data.endswith(b"~>"):
            return base64.a85decode(b, adobe=adobe, ignorechars=ignorechars)
        data = data[2:-2] if data.startswith(b"<~") else data[:-2]
    data = data.translate(None, ignorechars)
    if data.translate(None, _A85_DIGITS):
        return base64.a85decode(b, adobe=adobe, ignorechars=ignorechars)
    padding = -len(data) % 5
    digits = (data + b"u" * padding).translate(_A85_VALUES)
    groups = [
        (((d0 * 85 + d1) * 85 + d2) * 85 + d3) * 85 + d4
        for d0, d1, d2, d3, d4 in zip(digits[0::5], digits[1::5], digits[2::5], digits[3::5], digits[4::5], strict=True)
    ]
    try:
        decoded = struct.pack(f">{len(groups)}I", *groups)
    except struct.error:  # a group over 2**32 - 1: the standard library says so
        return base64.a85decode(b, adobe=adobe, ignorechars=ignorechars)
    return decoded[:-padding] if padding else decoded


class _Widths(dict[str, float]):
    """One font's width of each character as pypdf's extractor counts it: the space character's
    ``space_width``, any other's ``get_text_width``, asked once per font instead of once per string.
    The font is held weakly (it may hold its document); ``forget`` is called when it goes."""

    def __init__(self, font: Any, forget: Callable[[Any], Any]) -> None:
        super().__init__()
        self.font, self.encoding = weakref.ref(font, forget), font.encoding
        self.space_char, self.space_width = font.space_char, font.space_width
        self.str_encoding = all(isinstance(value, str) for value in font.encoding.values())

    def fits(self, font: Any) -> bool:
        return (
            self.font() is font
            and self.encoding is font.encoding
            and self.space_char == font.space_char
            and self.space_width == font.space_width
        )

    def __missing__(self, char: str) -> float:
        width = self.space_width if char == self.space_char else self.font().get_text_width(char)  # type: ignore[union-attr]
        self[char] = width
        return width  # type: ignore[no-any-return]


def text_operands_reader(
    pypdf_operands: Callable[..., Any], mult: Callable[..., Any], orient: Callable[..., Any]
) -> Callable[..., Any]:
    """pypdf's ``get_text_operands`` with a fast path for a byte string in a font whose encoding is
    a table: the bytes decoded by ``str.translate``, and the widths summed in the same order from a
    table kept for each live font, where pypdf loops over each byte in Python and asks the font for
    each character's width again in every string. Any other operand goes to pypdf."""
    tables: dict[int, _Widths] = {}

    def widths_of(font: Any) -> _Widths:
        key = id(font)
        widths = tables.get(key)
        if widths is None or not widths.fits(font):
            widths = tables[key] = _Widths(font, forget=lambda _: tables.pop(key, None))
        return widths

    def get_text_operands(
        operands: list[Any], cm_matrix: list[float], tm_matrix: list[float], font: Any, orientations: tuple[int, ...]
    ) -> tuple[str, bool, float]:
        encoding = font.encoding
        if not operands or not isinstance(operands[0], bytes) or not isinstance(encoding, dict):
            return pypdf_operands(operands, cm_matrix, tm_matrix, font, orientations)  # type: ignore[no-any-return]
        if orient(mult(tm_matrix, cm_matrix)) not in orientations:
            return "", False, 0.0
        widths = widths_of(font)
        if not widths.str_encoding:
            return pypdf_operands(operands, cm_matrix, tm_matrix, font, orientations)  # type: ignore[no-any-return]
        raw_characters = operands[0].decode("latin-1")
        text = raw_characters.translate(encoding)
        return text, False, reduce(operator.add, map(widths.__getitem__, raw_characters or text), 0.0)

    get_text_operands.pypdf_operands = pypdf_operands  # type: ignore[attr-defined]
    get_text_operands.tables = tables  # type: ignore[attr-defined]
    return get_text_operands


def install() -> list[str]:
    """Put the fast paths in pypdf where it still has the names they replace; which ones it took."""
    installed = []
    codecs, extractor = _module(_CODECS), _module(_EXTRACTOR)
    if hasattr(codecs, _TABLE) and hasattr(extractor, _TABLE):
        setattr(extractor, _TABLE, encoding_table)
        installed.append(_TABLE)
    parser, strings = _module(_PARSER), _module(_STRINGS)
    pypdf_reader, current = getattr(strings, _READ_STRING, None), getattr(parser, _READ_STRING, None)
    if pypdf_reader is not None and getattr(current, "pypdf_reader", None) is pypdf_reader:
        installed.append(_READ_STRING)  # by an earlier call
    elif pypdf_reader is not None and current is pypdf_reader and hasattr(strings, _MAKE_STRING):
        setattr(parser, _READ_STRING, string_reader(pypdf_reader, getattr(strings, _MAKE_STRING)))
        installed.append(_READ_STRING)
    filters = _module(_FILTERS)
    if getattr(filters, _A85, None) in (base64.a85decode, a85decode):
        setattr(filters, _A85, a85decode)
        installed.append(_A85)
    home, extractor_operands = _module(_OPERANDS_HOME), getattr(extractor, _OPERANDS, None)
    pypdf_operands = getattr(home, _OPERANDS, None)
    if pypdf_operands is not None and getattr(extractor_operands, "pypdf_operands", None) is pypdf_operands:
        installed.append(_OPERANDS)
    elif extractor_operands is pypdf_operands is not None and hasattr(home, "mult") and hasattr(home, "orient"):
        reader = text_operands_reader(pypdf_operands, home.mult, home.orient)  # type: ignore[union-attr]
        setattr(extractor, _OPERANDS, reader)
        installed.append(_OPERANDS)
    for name in {_TABLE, _READ_STRING, _A85, _OPERANDS} - set(installed):
        log.debug("pypdf has changed where %s was; that part of reading is left to pypdf", name)
    return installed


def _module(name: str) -> object:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
