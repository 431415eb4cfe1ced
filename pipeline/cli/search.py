"""``pdfline search``: ask the API for the chunks nearest a query and print them readably."""

from __future__ import annotations

import textwrap

import httpx
from rich.console import Console
from rich.markup import escape

from pipeline.cli.api_target import ApiTarget

SNIPPET_CHARS = 320


def run_search(api: ApiTarget, query: str, *, k: int, document_id: str | None) -> int:
    console = Console()
    params: dict[str, str | int] = {"q": query, "k": k, **({"document_id": document_id} if document_id else {})}
    try:
        with api.client(timeout=60) as client:
            response = client.get("/search", params=params)
    except httpx.TransportError as exc:
        console.print(f"[red]cannot reach the pdfline API at {api.url}[/] ({exc}); is `pdfline up` running?")
        return 2
    body = response.json()
    if response.is_error:
        error = body.get("error", {})
        console.print(f"[red]✗ {error.get('type')}[/]: {escape(str(error.get('message')))}")
        return 1
    if not body["hits"]:
        console.print("no matches")
        return 0
    console.print(f"[dim]{len(body['hits'])} hits · {body['model']} ({body['dimensions']} dimensions)[/]")
    for rank, hit in enumerate(body["hits"], 1):
        pages = (
            f"page {hit['page_start']}"
            if hit["page_start"] == hit["page_end"]
            else f"pages {hit['page_start']}-{hit['page_end']}"
        )
        console.print(
            f"\n[bold]{rank}.[/] [green]{hit['score']:.3f}[/]  [bold]{escape(hit['filename'])}[/]  {pages}"
            f"  [dim]{hit['document_id']} #{hit['chunk_index']}[/]"
        )
        snippet = textwrap.shorten(" ".join(hit["text"].split()), SNIPPET_CHARS, placeholder=" …")
        console.print(textwrap.indent(textwrap.fill(escape(snippet), width=96), "   "))
    return 0
