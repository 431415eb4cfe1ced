"""The HTTP contract of /documents, on a StubBroker: what is accepted, stored, queued or refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import api.ingest
from api.main import create_app
from api.uploads import display_filename
from pipeline.broker import build_broker, build_context
from pipeline.cli.local_redis import free_port
from pipeline.context import Context
from pipeline.schema import upgrade as upgrade_schema
from pipeline.settings import Settings
from tests.conftest import FIXTURES

DOCUMENT_KEYS = {
    "id", "filename", "sha256", "size_bytes", "status", "priority", "stage",
    "pages_total", "pages_parsed", "pages_without_text", "pages_skipped",
    "chunks_total", "chunks_embedded", "chunks_stored", "progress", "attempts", "error",
    "created_at", "started_at", "finished_at", "updated_at", "last_event_id", "links",
}  # fmt: skip


def post(client: TestClient, name: str, data: bytes, field: str = "file", **params: str):  # type: ignore[no-untyped-def]
    return client.post("/documents", params=params, files={field: (name, data, "application/pdf")})


def queued(ctx: Context) -> int:
    return ctx.broker.queues[ctx.settings.queue_name].qsize()  # type: ignore[attr-defined]


def leftovers(ctx: Context) -> list[Path]:
    incoming = ctx.settings.incoming_dir
    return list(incoming.iterdir()) if incoming.exists() else []


def variant(n: int) -> bytes:
    """A distinct PDF (different bytes, so a different document) per ``n``."""
    return (FIXTURES / "plain.pdf").read_bytes() + f"\n%variant {n}\n".encode()


def test_upload_stores_the_file_and_queues_the_parse(client: TestClient, ctx: Context) -> None:
    data = (FIXTURES / "plain.pdf").read_bytes()
    response = post(client, "plain.pdf", data)
    assert response.status_code == 202
    document = response.json()
    assert set(document) == DOCUMENT_KEYS
    assert document["status"] == "queued"
    assert document["size_bytes"] == len(data)
    assert document["created_at"].endswith("Z")
    assert response.headers["location"] == document["links"]["self"]
    assert ctx.upload_path(document["id"]).read_bytes() == data
    assert leftovers(ctx) == []
    assert queued(ctx) == 1
    assert client.get(f"/documents/{document['id']}").json()["sha256"] == document["sha256"]


def test_several_files_answer_with_a_list(client: TestClient, ctx: Context) -> None:
    files = [("files", (f"v{i}.pdf", variant(i), "application/pdf")) for i in range(3)]
    response = client.post("/documents", files=files)
    assert response.status_code == 202
    documents = response.json()["documents"]
    assert [d["filename"] for d in documents] == ["v0.pdf", "v1.pdf", "v2.pdf"]
    assert queued(ctx) == 3


def test_the_client_filename_never_becomes_a_path(client: TestClient, ctx: Context) -> None:
    document = post(client, "../../etc/evil.pdf", variant(1)).json()
    assert document["filename"] == "evil.pdf"
    assert sorted(p.name for p in ctx.settings.uploads_dir.iterdir()) == [f"{document['id']}.pdf"]


@pytest.mark.parametrize(
    ("raw", "shown"),
    [("..\\..\\win.pdf", "win.pdf"), ("a\x00b\nc.pdf", "abc.pdf"), ("", "upload.pdf"), ("x" * 300, "x" * 255)],
)
def test_display_filenames_are_sanitised(raw: str, shown: str) -> None:
    assert display_filename(raw) == shown


@pytest.mark.parametrize(
    ("name", "data", "status", "error_type"),
    [
        ("notes.pdf", (FIXTURES / "not_a_pdf.pdf").read_bytes(), 415, "not_a_pdf"),
        ("empty.pdf", b"", 422, "empty_file"),
    ],
)
def test_bad_uploads_are_refused_before_anything_is_queued(
    client: TestClient, ctx: Context, name: str, data: bytes, status: int, error_type: str
) -> None:
    response = post(client, name, data)
    assert response.status_code == status
    assert response.json()["error"]["type"] == error_type
    assert name in response.json()["error"]["message"]
    assert queued(ctx) == 0
    assert leftovers(ctx) == []
    assert client.get("/documents").json()["items"] == []


def test_one_bad_file_refuses_the_whole_batch(client: TestClient, ctx: Context) -> None:
    files = [
        ("files", ("good.pdf", variant(1), "application/pdf")),
        ("files", ("bad.pdf", b"hello", "application/pdf")),
    ]
    assert client.post("/documents", files=files).status_code == 415
    assert queued(ctx) == 0
    assert client.get("/documents").json()["items"] == []


def test_too_large_is_413_while_streaming_and_leaves_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", max_upload_mb=0.01)
    ctx = build_context(settings, broker=build_broker(settings, stub=True))
    upgrade_schema(ctx.engine)
    with TestClient(create_app(context=ctx)) as client:
        big = (FIXTURES / "thirty_pages.pdf").read_bytes()
        response = post(client, "big.pdf", big)
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "too_large"
        assert "0.01 MiB" in response.json()["error"]["message"]
        assert leftovers(ctx) == []
        assert queued(ctx) == 0
        assert post(client, "small.pdf", (FIXTURES / "plain.pdf").read_bytes()).status_code == 202


def test_not_multipart_and_missing_file_are_clear_errors(client: TestClient) -> None:
    response = client.post("/documents", content=b"%PDF-1.4", headers={"content-type": "application/pdf"})
    assert response.status_code == 415
    assert response.json()["error"]["type"] == "unsupported_media_type"
    response = client.post("/documents", data={"note": "no file"}, files={"other": ("x.txt", b"x")})
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "missing_file"
    broken = client.post(
        "/documents",
        content=b"--xyz\r\nnot a header\r\n",
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert broken.status_code == 422
    assert broken.json()["error"]["type"] in {"invalid_request", "missing_file"}


def test_same_bytes_return_the_existing_document(client: TestClient, ctx: Context) -> None:
    first = post(client, "a.pdf", variant(7))
    second = post(client, "renamed.pdf", variant(7))
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["filename"] == "a.pdf"
    assert queued(ctx) == 1
    assert leftovers(ctx) == []
    busy = post(client, "a.pdf", variant(7), reprocess="true")
    assert busy.status_code == 409
    assert busy.json()["error"]["type"] == "already_processing"


def test_new_content_is_inserted_without_a_lookup_first(
    client: TestClient, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New content is the common case: its insert is the check. Only content already there costs a
    read, for the existing document to answer with."""
    real, lookups = api.ingest._by_content, []

    def counted_lookup(ctx: Context, sha256: str) -> object:
        lookups.append(sha256)
        return real(ctx, sha256)

    monkeypatch.setattr(api.ingest, "_by_content", counted_lookup)
    first = post(client, "a.pdf", variant(8))
    assert first.status_code == 202
    assert lookups == []
    second = post(client, "b.pdf", variant(8))
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert len(lookups) == 1
    assert queued(ctx) == 1
    assert sorted(p.name for p in ctx.settings.uploads_dir.iterdir()) == [f"{first.json()['id']}.pdf"]
    assert leftovers(ctx) == []


def test_content_whose_document_is_deleted_between_the_insert_and_the_lookup_is_inserted_again(
    client: TestClient, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The insert met the hash of a document that was deleted before the lookup could read it: the
    upload is new after all."""
    first = post(client, "a.pdf", variant(9)).json()
    real = api.ingest._by_content

    def deleted_meanwhile(ctx: Context, sha256: str) -> object:
        assert client.delete(f"/documents/{first['id']}").status_code == 204
        monkeypatch.setattr(api.ingest, "_by_content", real)
        return None

    monkeypatch.setattr(api.ingest, "_by_content", deleted_meanwhile)
    again = post(client, "b.pdf", variant(9))
    assert again.status_code == 202
    assert again.json()["id"] != first["id"]
    assert again.json()["filename"] == "b.pdf"
    assert sorted(p.name for p in ctx.settings.uploads_dir.iterdir()) == [f"{again.json()['id']}.pdf"]
    assert leftovers(ctx) == []


def test_unknown_or_malformed_ids_are_404(client: TestClient) -> None:
    for path in ["/documents/nope", "/documents/..%2F..%2Fetc", "/documents/nope/chunks"]:
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["type"] == "not_found"
    assert client.delete("/documents/nope").status_code == 404


def test_listing_pages_with_a_cursor_and_filters(client: TestClient) -> None:
    ids = {post(client, f"v{i}.pdf", variant(i)).json()["id"] for i in range(5)}
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/documents", params=params).json()
        seen.extend(d["id"] for d in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == ids
    assert len(client.get("/documents", params={"status": "queued"}).json()["items"]) == 5
    assert client.get("/documents", params={"status": "completed"}).json()["items"] == []


@pytest.mark.parametrize(
    ("params", "error_type"),
    [
        ({"status": "bogus"}, "invalid_request"),
        ({"limit": 0}, "invalid_request"),
        ({"limit": 501}, "invalid_request"),
        ({"cursor": "!!!"}, "invalid_cursor"),
        ({"cursor": "WzFd"}, "invalid_cursor"),
    ],
)
def test_bad_list_parameters_are_422(client: TestClient, params: dict[str, object], error_type: str) -> None:
    response = client.get("/documents", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["type"] == error_type


def test_delete_removes_document_and_file(client: TestClient, ctx: Context) -> None:
    document = post(client, "a.pdf", variant(3)).json()
    assert ctx.upload_path(document["id"]).exists()
    assert client.delete(f"/documents/{document['id']}").status_code == 204
    assert not ctx.upload_path(document["id"]).exists()
    assert client.get(f"/documents/{document['id']}").status_code == 404


def test_queue_down_is_503_and_nothing_is_left_half_done(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", redis_url=f"redis://127.0.0.1:{free_port()}/0")
    ctx = build_context(settings)
    with TestClient(create_app(context=ctx)) as client:
        response = post(client, "a.pdf", variant(1))
        assert response.status_code == 503
        assert response.json()["error"]["type"] == "queue_unavailable"
        assert client.get("/documents").json()["items"] == []
        assert list(settings.uploads_dir.iterdir()) == []
        assert leftovers(ctx) == []
