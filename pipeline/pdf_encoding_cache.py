"""pypdf builds the WinAnsi (cp1252) code table afresh, 256 single-byte decodes, for every page it
extracts text from: its text extractor starts each page with a placeholder font carrying that table.
That was 12% of the CPU of reading the benchmark's pages. Here the extractor gets a copy of a table
built once; the copy keeps each page's font free to change its own, as before.

A workaround for pypdf 7.1, in its private modules: where a pypdf release no longer has these
names, ``install`` leaves pypdf alone and extraction is only slower.
"""

from __future__ import annotations

import importlib
import logging
from functools import cache

log = logging.getLogger(__name__)

_CODECS = "pypdf._codecs"
_EXTRACTOR = "pypdf._text_extraction._text_extractor"
_NAME = "encoding_dict_from_named_encoding"


@cache
def _table(encoding: str) -> dict[int, str]:
    return dict(getattr(importlib.import_module(_CODECS), _NAME)(encoding))


def encoding_table(encoding: str) -> dict[int, str]:
    """What pypdf's own function returns for ``encoding``, without decoding 256 bytes each time."""
    return dict(_table(encoding))


def install() -> bool:
    """Point pypdf's text extractor at ``encoding_table``; whether it now uses it."""
    try:
        codecs, extractor = importlib.import_module(_CODECS), importlib.import_module(_EXTRACTOR)
    except ImportError:
        codecs = extractor = None
    if getattr(codecs, _NAME, None) is None or getattr(extractor, _NAME, None) is None:
        log.debug("this pypdf has no %s; its text extractor builds its code tables per page", _NAME)
        return False
    setattr(extractor, _NAME, encoding_table)
    return True
