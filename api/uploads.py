"""Receive a multipart upload straight to disk, enforcing the size limit while it streams.

Starlette's form parser reads the whole body before the endpoint runs; this one hashes and writes
each file part as it arrives and aborts with 413 the moment a part passes the limit. The client's
filename is kept for display only and never becomes part of a path.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from api.errors import APIError

FILE_FIELDS = ("file", "files")
MAX_FIELD_BYTES = 64 * 1024
HEAD_BYTES = 1024
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class ReceivedFile:
    field: str
    filename: str
    path: Path
    size: int = 0
    head: bytes = b""
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()


@dataclass
class ReceivedForm:
    files: list[ReceivedFile] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        for received in self.files:
            received.path.unlink(missing_ok=True)


def display_filename(raw: str) -> str:
    name = _UNSAFE.sub("", raw.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return (name or "upload.pdf")[:255]


async def receive_form(request: Request, *, incoming_dir: Path, max_file_bytes: int, max_files: int) -> ReceivedForm:
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise APIError(415, "unsupported_media_type", "send the PDF as multipart/form-data in a part named 'file'")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_files * (max_file_bytes + MAX_FIELD_BYTES):
        raise _too_large(max_file_bytes)

    incoming_dir.mkdir(parents=True, exist_ok=True)
    form = ReceivedForm()
    state = _PartState()

    def on_part_begin() -> None:
        state.reset()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state.header_field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state.header_value += data[start:end]

    def on_header_end() -> None:
        state.headers[state.header_field.decode("latin-1").lower()] = state.header_value
        state.header_field, state.header_value = b"", b""

    def on_headers_finished() -> None:
        _, options = parse_options_header(state.headers.get("content-disposition", b""))
        state.name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if state.name in FILE_FIELDS and filename is not None:
            if len(form.files) >= max_files:
                raise APIError(413, "too_many_files", f"at most {max_files} files per upload")
            received = ReceivedFile(
                field=state.name,
                filename=display_filename(filename.decode("utf-8", "replace")),
                path=incoming_dir / f"{uuid.uuid4().hex}.part",
            )
            form.files.append(received)
            state.file = received
            state.sink = received.path.open("wb")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        received = state.file
        if received is None:
            state.value += chunk
            if len(state.value) > MAX_FIELD_BYTES:
                raise APIError(413, "too_large", f"form field {state.name!r} is too large")
            return
        received.size += len(chunk)
        if received.size > max_file_bytes:
            raise _too_large(max_file_bytes, received.filename)
        if len(received.head) < HEAD_BYTES:
            received.head += chunk[: HEAD_BYTES - len(received.head)]
        received.digest.update(chunk)
        assert state.sink is not None
        state.sink.write(chunk)

    def on_part_end() -> None:
        if state.sink is not None:
            state.sink.close()
        elif state.name:
            form.fields[state.name] = state.value.decode("utf-8", "replace")
        state.reset()

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except APIError:
        state.close()
        form.discard()
        raise
    except Exception as exc:
        state.close()
        form.discard()
        raise APIError(422, "invalid_request", f"the multipart body could not be read: {exc}") from exc
    return form


class _PartState:
    def __init__(self) -> None:
        self.sink: IO[bytes] | None = None
        self.reset()

    def reset(self) -> None:
        self.headers: dict[str, bytes] = {}
        self.header_field = b""
        self.header_value = b""
        self.name = ""
        self.value = b""
        self.file: ReceivedFile | None = None
        self.sink = None

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()


def _too_large(max_file_bytes: int, filename: str | None = None) -> APIError:
    limit = max_file_bytes / (1024 * 1024)
    what = f"{filename!r} is" if filename else "the upload is"
    return APIError(413, "too_large", f"{what} larger than the limit of {limit:.3g} MiB")
