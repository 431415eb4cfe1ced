"""``pdfline upload``: send files to the API and wait for each document's final status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from pipeline.cli.api_target import ApiTarget
from pipeline.cli.follow import follow_all


def run_upload(api: ApiTarget, files: list[Path], *, reprocess: bool, watch: bool, priority: str) -> int:
    console = Console()
    try:
        return _upload_and_wait(console, api, files, reprocess=reprocess, watch=watch, priority=priority)
    except httpx.TransportError as exc:
        console.print(f"[red]cannot reach the pdfline API at {api.url}[/] ({exc}); is `pdfline up` running?")
        return 2


def _upload_and_wait(
    console: Console, api: ApiTarget, files: list[Path], *, reprocess: bool, watch: bool, priority: str
) -> int:
    documents: dict[str, dict[str, Any]] = {}
    failed_uploads = 0
    with api.client(timeout=60) as client:
        for path in files:
            try:
                with path.open("rb") as handle:
                    response = client.post(
                        "/documents",
                        params={"reprocess": "true"} if reprocess else None,
                        files={"file": (path.name, handle, "application/pdf")},
                        data={"priority": priority},
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

    if documents:
        if watch:
            follow_all(console, api, documents, bars=True)
        else:
            with console.status("waiting for documents…"):
                follow_all(console, api, documents, bars=False)

    table = Table("file", "status", "pages", "chunks", "document")
    for document in documents.values():
        table.add_row(
            document["filename"],
            document["status"],
            str(document["pages_total"]),
            str(document["chunks_stored"]),
            document["id"],
        )
    if documents:
        console.print(table)
    for document in documents.values():
        if error := document.get("error"):
            console.print(f"[red]✗[/] {document['filename']} failed: {error['type']}: {error['message']}")
    unfinished = sum(1 for d in documents.values() if d["status"] != "completed")
    return 1 if failed_uploads or unfinished else 0
