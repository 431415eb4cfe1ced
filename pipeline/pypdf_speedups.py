"""Two of pypdf's slow paths in text extraction, replaced by ones that give the same results.

- Its text extractor builds the WinAnsi (cp1252) code table afresh, 256 single-byte decodes, for
  every page: it starts each page with a placeholder font carrying that table. Here it gets a copy
  of a table built once (a copy, so that a font can still change its own).
- Its content-stream parser reads each literal string ``(...)`` a byte at a time in Python. A
  string with no escape and no nested parenthesis is taken here in one slice; any other string is
  left to pypdf.

On the benchmark's generated pages, which show each line as one long string, they cost 12% and 21%
of the CPU of extracting text; on pdfTeX's short strings, nothing measurable. These are pypdf 7.1's
private names: where a release no longer has one, ``install`` leaves that path to pypdf, which is
then only slower.
"""

from __future__ import annotations

import importlib
import io
import logging
import re
from collections.abc import Callable
from functools import cache
from typing import Any

log = logging.getLogger(__name__)

_CODECS = "pypdf._codecs"
_EXTRACTOR = "pypdf._text_extraction._text_extractor"
_PARSER = "pypdf.generic._data_structures"
_STRINGS = "pypdf.generic._utils"
_TABLE = "encoding_dict_from_named_encoding"
_READ_STRING = "read_string_from_stream"
_MAKE_STRING = "create_string_object"

#: A literal string's bytes up to the first that needs pypdf's care: a parenthesis or an escape.
_PLAIN = re.compile(rb"[^()\\]*")
_CLOSE = ord(")")


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
    for name in {_TABLE, _READ_STRING} - set(installed):
        log.debug("pypdf has changed where %s was; that part of reading is left to pypdf", name)
    return installed


def _module(name: str) -> object:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
