"""Fast paths in how pypdf turns a page's bytes into operands: its code table, its literal strings,
its ASCII85 streams. Each gives what pypdf's own function gives, value for value and error for
error, and hands anything unusual to it."""

from __future__ import annotations

import base64
import importlib
import io
import re
import struct
from collections.abc import Callable
from functools import cache
from typing import Any

CODECS = "pypdf._codecs"
TABLE = "encoding_dict_from_named_encoding"

#: A literal string's bytes up to the first that needs pypdf's care: a parenthesis or an escape.
_PLAIN = re.compile(rb"[^()\\]*")
_CLOSE = ord(")")
#: ASCII85's digits, ``!`` to ``u``, and each byte's value as one (wrapped for the others).
_A85_DIGITS = bytes(range(33, 118))
_A85_VALUES = bytes((byte - 33) % 256 for byte in range(256))


@cache
def _table(encoding: str) -> dict[int, str]:
    return dict(getattr(importlib.import_module(CODECS), TABLE)(encoding))


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
