"""Opening PDFs and reading their pages with pypdf, translating its many failure modes into ours.

pypdf raises far more than its ``PdfReadError`` family on real-world files (``ValueError``,
``KeyError``, ``DeprecationError``, ``LimitReachedError``...), so anything it raises while opening a
file means the file is corrupt, never that the worker should crash.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pypdf import PasswordType, PdfReader, PdfWriter

from pipeline.errors import CorruptPdf, Encrypted, NotAPdf

log = logging.getLogger(__name__)

#: The PDF spec allows junk before the header; readers look this far for it.
HEADER_SEARCH_BYTES = 1024


def looks_like_pdf(head: bytes) -> bool:
    return b"%PDF-" in head[:HEADER_SEARCH_BYTES]


def open_pdf(path: Path, password: str = "") -> PdfReader:
    with path.open("rb") as file:
        if not looks_like_pdf(file.read(HEADER_SEARCH_BYTES)):
            raise NotAPdf("the file does not start with a PDF header")
    try:
        reader = PdfReader(path, strict=False)
    except Exception as exc:
        raise CorruptPdf(f"pypdf could not open the file: {_describe(exc)}") from exc

    if reader.is_encrypted:
        try:
            outcome = reader.decrypt(password)
        except Exception as exc:
            raise Encrypted(f"the PDF is encrypted and could not be decrypted: {_describe(exc)}") from exc
        if outcome == PasswordType.NOT_DECRYPTED:
            raise Encrypted("the PDF is encrypted and does not open without a password")
    try:
        _ = len(reader.pages)
    except Exception as exc:
        raise CorruptPdf(f"pypdf could not read the page tree: {_describe(exc)}") from exc
    return reader


def remove_password(path: Path, password: str) -> bool:
    """Replace an encrypted PDF by a decrypted copy when ``password`` opens it, so the password is
    used once, at the door, and never stored or sent through the queue. ``False`` (file untouched)
    when it is not encrypted, the password is wrong, or pypdf cannot rewrite it: the parse stage
    then reports what is wrong with it."""
    try:
        reader = PdfReader(path, strict=False)
        if not reader.is_encrypted or reader.decrypt(password) == PasswordType.NOT_DECRYPTED:
            return False
        writer = PdfWriter(clone_from=reader)
        partial = path.with_suffix(".decrypting")
        with partial.open("wb") as out:
            writer.write(out)
        partial.replace(path)
        return True
    except Exception as exc:
        log.warning("could not decrypt %s with the given password: %s", path.name, _describe(exc))
        return False


def page_count(reader: PdfReader) -> int:
    return len(reader.pages)


def extract_page_text(reader: PdfReader, index: int) -> str | None:
    """The page's text, or ``None`` when pypdf cannot read this page (the rest of the file may be fine)."""
    try:
        return reader.pages[index].extract_text() or ""
    except Exception as exc:
        log.warning("page %d could not be read: %s", index + 1, _describe(exc))
        return None


def _describe(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0][:300]}" if message else type(exc).__name__
