"""Six of pypdf's slow paths in text extraction, replaced by ones that give the same results.

Reading the page's bytes (``decoding``):
- Its text extractor builds the WinAnsi (cp1252) code table afresh, 256 single-byte decodes, for
  every page: it starts each page with a placeholder font carrying that table. Here it gets a copy
  of a table built once (a copy, so that a font can still change its own).
- Its content-stream parser reads each literal string ``(...)`` a byte at a time in Python. A
  string with no escape and no nested parenthesis is taken here in one slice; any other string is
  left to pypdf.
- It decodes ASCII85 streams (ReportLab writes every page's content so) with the standard library's
  ``base64.a85decode``, a Python loop over each byte. Here a stream of plain 5-digit groups is
  decoded a group at a time; any other (a ``z``, a bad digit, an overflow) goes to that function.

Asking fonts (``fonts``):
- For each string a page shows, it maps every byte through the font's encoding table and sums the
  characters' widths in Python loops, asking the font for each character's width again in every
  string. Here the bytes are mapped by ``str.translate`` and the widths summed in C, in the same
  order, from a table kept for each font.
- It then maps each character through the font's character map, one lookup at a time; here by
  ``str.translate`` too, while the text runs left to right.
- It builds every font of a page again for every page. Here a font is built once per font
  resource, so the pages that share it share its tables too.

On the benchmark's generated pages, which show each line as one long string, the first two cost 12%
and 21% of the CPU of extracting text, of what was left the next two together 37%, and of what was
left then the last two 18% (instructions counted by callgrind); on a pdfTeX manual's short strings
between kerning offsets, the first two nothing measurable and the next two 6%. These are pypdf
7.1's private names: where a release no longer has one, ``install`` leaves that path to pypdf,
which is then only slower.
"""

from __future__ import annotations

import base64
import importlib
import logging
from collections.abc import Callable
from typing import Any

from pipeline.pypdf_speedups.decoding import CODECS, TABLE, a85decode, encoding_table, string_reader
from pipeline.pypdf_speedups.fonts import (
    FontsKeptPerResource,
    FontTablesByFont,
    display_str_reader,
    text_operands_reader,
)

__all__ = [
    "FontsKeptPerResource",
    "a85decode",
    "display_str_reader",
    "encoding_table",
    "install",
    "string_reader",
    "text_operands_reader",
]

log = logging.getLogger(__name__)

_EXTRACTOR = "pypdf._text_extraction._text_extractor"
_PARSER = "pypdf.generic._data_structures"
_STRINGS = "pypdf.generic._utils"
_READ_STRING = "read_string_from_stream"
_MAKE_STRING = "create_string_object"
_FILTERS = "pypdf.filters"
_A85 = "a85decode"
_TEXT_HOME = "pypdf._text_extraction"
_OPERANDS = "get_text_operands"
_DISPLAY = "get_display_str"
_PAGE = "pypdf._page"
_FONT_HOME = "pypdf.generic._font"
_FONT = "Font"
_ALL = {TABLE, _READ_STRING, _A85, _OPERANDS, _DISPLAY, _FONT}


def install() -> list[str]:
    """Put the fast paths in pypdf where it still has the names they replace; which ones it took."""
    installed = []
    codecs, extractor = _module(CODECS), _module(_EXTRACTOR)
    if hasattr(codecs, TABLE) and hasattr(extractor, TABLE):
        setattr(extractor, TABLE, encoding_table)
        installed.append(TABLE)
    strings = _module(_STRINGS)
    if hasattr(strings, _MAKE_STRING) and _replace(
        _module(_PARSER),
        _READ_STRING,
        getattr(strings, _READ_STRING, None),
        "pypdf_reader",
        lambda pypdf_reader: string_reader(pypdf_reader, getattr(strings, _MAKE_STRING)),
    ):
        installed.append(_READ_STRING)
    filters = _module(_FILTERS)
    if getattr(filters, _A85, None) in (base64.a85decode, a85decode):
        setattr(filters, _A85, a85decode)
        installed.append(_A85)
    home, fonts = _module(_TEXT_HOME), FontTablesByFont()
    if (
        hasattr(home, "mult")
        and hasattr(home, "orient")
        and _replace(
            extractor,
            _OPERANDS,
            getattr(home, _OPERANDS, None),
            "pypdf_operands",
            lambda pypdf_operands: text_operands_reader(pypdf_operands, home.mult, home.orient, fonts),  # type: ignore[union-attr]
        )
    ):
        installed.append(_OPERANDS)
    if (
        hasattr(home, "CUSTOM_RTL_MIN")
        and hasattr(home, "RTL_CHARACTER_PATTERN")
        and _replace(
            extractor,
            _DISPLAY,
            getattr(home, _DISPLAY, None),
            "pypdf_display_str",
            lambda pypdf_display_str: display_str_reader(pypdf_display_str, home, fonts),
        )
    ):
        installed.append(_DISPLAY)
    font_class = getattr(_module(_FONT_HOME), _FONT, None)
    if hasattr(font_class, "from_font_resource") and _replace(
        _module(_PAGE), _FONT, font_class, "font_class", FontsKeptPerResource
    ):
        installed.append(_FONT)
    for name in _ALL - set(installed):
        log.debug("pypdf has changed where %s was; that part of reading is left to pypdf", name)
    return installed


def _replace(where: Any, name: str, pypdf_value: Any, marker: str, make: Callable[[Any], Any]) -> bool:
    """``where.name`` made ``make(pypdf_value)`` if pypdf still has its own value there; ``True``
    then, and when an earlier call did it (the value there says what it replaced by ``marker``)."""
    current = getattr(where, name, None)
    if pypdf_value is None or current is None:
        return False
    if getattr(current, marker, None) is pypdf_value:
        return True
    if current is not pypdf_value:
        return False
    setattr(where, name, make(pypdf_value))
    return True


def _module(name: str) -> object:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
