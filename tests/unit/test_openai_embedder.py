"""The openai provider against an OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import pytest

from pipeline.cli.local_redis import free_port
from pipeline.embedders import OpenAIEmbedder, build_embedder
from pipeline.embedders.hashing import HashingEmbedder
from pipeline.errors import EmbeddingRejected, EmbeddingUnavailable
from pipeline.settings import Settings
from tests.support.embedding_server import FakeEmbeddingServer


def make(server: FakeEmbeddingServer, *, max_retries: int = 2, dimensions: int | None = 24) -> OpenAIEmbedder:
    return OpenAIEmbedder(
        model="fake-embed",
        dimensions=dimensions,
        api_key="k",
        base_url=server.base_url,
        timeout_s=5,
        max_retries=max_retries,
    )


def test_asks_for_float_vectors_with_dimensions(embedding_server: FakeEmbeddingServer) -> None:
    vectors = make(embedding_server).embed(["one", "two", "three"])
    assert [len(v) for v in vectors] == [24, 24, 24]
    body = embedding_server.requests[0].body
    assert body["encoding_format"] == "float"
    assert body["dimensions"] == 24
    assert body["input"] == ["one", "two", "three"]
    assert body["model"] == "fake-embed"


def test_vectors_come_back_in_the_order_of_the_inputs(embedding_server: FakeEmbeddingServer) -> None:
    texts = ["alpha", "beta", "gamma"]
    assert make(embedding_server).embed(texts) == HashingEmbedder(24).embed(texts)


def test_an_answer_without_embeddings_is_a_transient_error(embedding_server: FakeEmbeddingServer) -> None:
    embedding_server.malformed = True
    with pytest.raises(EmbeddingUnavailable, match="not a list of embeddings"):
        make(embedding_server).embed(["x"])


def test_dimensions_are_left_out_when_not_configured(embedding_server: FakeEmbeddingServer) -> None:
    make(embedding_server, dimensions=None).embed(["one"])
    assert "dimensions" not in embedding_server.requests[0].body


def test_429_with_retry_after_is_honoured(embedding_server: FakeEmbeddingServer) -> None:
    embedding_server.fail_next(1, status=429, headers={"Retry-After": "1"})
    vectors = make(embedding_server).embed(["patience"])
    assert len(vectors) == 1
    first, second = embedding_server.requests
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.9, "the client must wait as long as Retry-After says"


def test_persistent_503_becomes_a_transient_error(embedding_server: FakeEmbeddingServer) -> None:
    embedding_server.fail_next(5, status=503)
    with pytest.raises(EmbeddingUnavailable, match="503"):
        make(embedding_server, max_retries=0).embed(["x"])


def test_rejected_request_is_permanent(embedding_server: FakeEmbeddingServer) -> None:
    embedding_server.fail_next(1, status=401)
    with pytest.raises(EmbeddingRejected, match="401"):
        make(embedding_server, max_retries=0).embed(["x"])


def test_unreachable_server_is_transient() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    embedder = OpenAIEmbedder(model="m", dimensions=None, api_key="k", base_url=url, timeout_s=2, max_retries=0)
    with pytest.raises(EmbeddingUnavailable):
        embedder.embed(["x"])


def test_openai_settings_select_the_openai_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    embedder = build_embedder(Settings())
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.model == "text-embedding-3-small"
