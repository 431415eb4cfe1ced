"""Opening PDFs and reading their pages with pypdf, translating its many failure modes into ours.

pypdf raises far more than its ``PdfReadError`` family on real-world files (``ValueError``,
``KeyError``, ``DeprecationError``, ``LimitReachedError``...), so anything it raises while opening a
file means the file is corrupt, never that the worker should crash.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pypdf import PasswordType, PdfReader, PdfWriter, apply_configuration
from pypdf.errors import LimitReachedError

from pipeline import pypdf_speedups
from pipeline.errors import CorruptPdf, Encrypted, NotAPdf
from pipeline.page_timer import PageTimeLimit, call_with_time_limit

log = logging.getLogger(__name__)

pypdf_speedups.install()  # here: whatever reads pages reads them through this module

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


@contextmanager
def decompression_limits(max_stream_bytes: int) -> Iterator[None]:
    """pypdf's limits on what one stream may grow to, for the current thread: a few kilobytes of
    zlib can claim gigabytes of memory."""
    with apply_configuration(
        maximum_declared_stream_length=max_stream_bytes,
        array_based_stream_maximum_output_length=max_stream_bytes,
        zlib_maximum_output_length=max_stream_bytes,
        lzw_maximum_output_length=max_stream_bytes,
        run_length_maximum_output_length=max_stream_bytes,
        jbig2_maximum_output_length=max_stream_bytes,
        brotli_maximum_output_length=max_stream_bytes,
        image_maximum_buffer_size=max_stream_bytes,
        stream_decoding_work_maximum_length=4 * max_stream_bytes,
    ):
        yield


@dataclass(frozen=True)
class PageText:
    text: str
    #: Why the page was skipped; ``None`` when it was read (even if it had no text).
    skipped: str | None = None


def read_page(reader: PdfReader, number: int, time_limit_s: float) -> PageText:
    """Page ``number`` (from 1), or why it was skipped: the rest of the file may be fine."""
    try:
        text = call_with_time_limit(lambda: reader.pages[number - 1].extract_text(), time_limit_s)
        return PageText((text or "").replace("\x00", ""))  # Postgres text cannot hold NUL
    except PageTimeLimit as exc:
        reason = str(exc)
    except LimitReachedError as exc:
        reason = f"it exceeds a safety limit ({_describe(exc)})"
    except Exception as exc:
        reason = f"pypdf could not read it ({_describe(exc)})"
    log.warning("page %d skipped: %s", number, reason)
    return PageText("", skipped=reason)


def _describe(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0][:300]}" if message else type(exc).__name__
