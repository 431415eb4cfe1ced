"""Following documents' event streams from the terminal, with a rich progress bar per file."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from httpx_sse import connect_sse
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn

from pipeline.cli.api_target import ApiTarget

TERMINAL = {"completed", "failed", "canceled"}
RECONNECTS = 20


def follow_stream(
    api: ApiTarget, document: dict[str, Any], on_state: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Read one document's stream to its terminal event, reconnecting with Last-Event-ID if dropped."""
    state = dict(document)
    last_id: str | None = None
    for attempt in range(RECONNECTS):
        headers = {"Last-Event-ID": last_id} if last_id is not None else {}
        try:
            with (
                api.client(timeout=httpx.Timeout(10, read=60)) as client,
                connect_sse(client, "GET", f"/documents/{document['id']}/events", headers=headers) as source,
            ):
                for sse in source.iter_sse():
                    last_id = sse.id or last_id
                    state.update(json.loads(sse.data))
                    on_state(state)
                    if sse.event in TERMINAL or (sse.event == "snapshot" and state["status"] in TERMINAL):
                        return state
                if state["status"] in TERMINAL:
                    return state
        except httpx.HTTPError:
            time.sleep(min(0.5 * 2**attempt, 5))
    return state


def describe(state: dict[str, Any]) -> str:
    status = state["status"]
    if status == "failed" and state.get("error"):
        return f"[red]failed[/] {state['error']['type']}"
    if status != "running":
        return status
    return (
        f"{state.get('stage') or ''} · pages {state['pages_parsed']}/{state['pages_total']}"
        f" · chunks {state['chunks_stored']}/{state['chunks_total']}"
    )


def follow_all(console: Console, api: ApiTarget, documents: dict[str, dict[str, Any]], *, bars: bool) -> None:
    """Update ``documents`` in place with each one's final state."""
    progress = Progress(
        TextColumn("{task.fields[name]}", style="bold"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[detail]}"),
        console=console,
        disable=not bars,
    )
    with progress:
        tasks: dict[str, TaskID] = {
            document_id: progress.add_task("", total=100, name=document["filename"], detail=describe(document))
            for document_id, document in documents.items()
        }

        def follow(document_id: str) -> None:
            def on_state(state: dict[str, Any]) -> None:
                progress.update(tasks[document_id], completed=state["progress"] * 100, detail=describe(state))

            documents[document_id] = follow_stream(api, documents[document_id], on_state)

        threads = [threading.Thread(target=follow, args=(document_id,), daemon=True) for document_id in documents]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
