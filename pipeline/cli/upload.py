"""``pdfline upload``: send files to the API and wait for each document's final status."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

TERMINAL = {"completed", "failed", "canceled"}


def run_upload(api: str, files: list[Path], *, reprocess: bool, timeout_s: float) -> int:
    console = Console()
    try:
        return _upload_and_wait(console, api, files, reprocess=reprocess, timeout_s=timeout_s)
    except httpx.TransportError as exc:
        console.print(f"[red]cannot reach the pdfline API at {api}[/] ({exc}); is `pdfline up` running?")
        return 2


def _upload_and_wait(console: Console, api: str, files: list[Path], *, reprocess: bool, timeout_s: float) -> int:
    documents: dict[str, dict[str, Any]] = {}
    failed_uploads = 0
    with httpx.Client(base_url=api, timeout=60) as client:
        for path in files:
            try:
                with path.open("rb") as handle:
                    response = client.post(
                        "/documents",
                        params={"reprocess": "true"} if reprocess else None,
                        files={"file": (path.name, handle, "application/pdf")},
                    )
            except OSError as exc:
                console.print(f"[red]✗[/] {path}: {exc}")
                failed_uploads += 1
                continue
            body = response.json()
            if response.is_error:
                error = body.get("error", {})
                console.print(f"[red]✗[/] {path}: {error.get('type')}: {error.get('message')}")
                failed_uploads += 1
                continue
            verb = "queued" if response.status_code == 202 else "already stored"
            console.print(f"[green]↑[/] {path.name} → {body['id']} ({verb})")
            documents[body["id"]] = body

        deadline = time.monotonic() + timeout_s
        with console.status("waiting for documents…"):
            while any(d["status"] not in TERMINAL for d in documents.values()):
                if time.monotonic() > deadline:
                    console.print("[yellow]timed out waiting; documents are still being processed[/]")
                    break
                time.sleep(0.5)
                for document_id, document in documents.items():
                    if document["status"] not in TERMINAL:
                        documents[document_id] = client.get(f"/documents/{document_id}").json()

    table = Table("file", "status", "pages", "chunks", "document", "error")
    for document in documents.values():
        error = document.get("error") or {}
        table.add_row(
            document["filename"],
            document["status"],
            str(document["pages_total"]),
            str(document["chunks_stored"]),
            document["id"],
            f"{error.get('type')}: {error.get('message')}" if error else "",
        )
    if documents:
        console.print(table)
    unfinished = sum(1 for d in documents.values() if d["status"] != "completed")
    return 1 if failed_uploads or unfinished else 0
