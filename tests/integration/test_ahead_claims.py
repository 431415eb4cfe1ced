"""embed_ahead's claims on a real Redis: embed, handed a document while an embed_ahead step is still
asking for its texts, waits for that step instead of asking for the same texts again."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import redis
from sqlalchemy import delete, update
from sqlmodel import Session, select

from pipeline import lifecycle
from pipeline.broker import build_broker, build_context
from pipeline.cli.local_redis import LocalRedis
from pipeline.context import Context
from pipeline.embedders import Embedder
from pipeline.models import CachedEmbedding, Chunk, Document, Stage, Status
from pipeline.schema import upgrade as upgrade_schema
from pipeline.settings import Settings
from pipeline.stages import embed as embed_stage
from pipeline.stages.ahead_claims import AheadClaims
from pipeline.stages.embed import run_embed
from pipeline.stages.embed_ahead import run_embed_ahead
from pipeline.stages.pacing import Deadline
from pipeline.stages.parse import run_parse
from pipeline.stages.run import StageRun
from tests.support.waiting import wait_until
from tests.unit.test_stages import add_document

pytestmark = pytest.mark.integration

#: A database of the test Redis no worker of the other tests listens on: this test's messages stay here.
DATABASE = 9


@pytest.fixture
def client(redis_server: LocalRedis) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(f"{redis_server.url}/{DATABASE}")
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


@pytest.fixture
def ctx(client: redis.Redis, redis_server: LocalRedis, tmp_path: Path) -> Iterator[Context]:
    settings = Settings(data_dir=tmp_path / "data", progress_interval_s=0, redis_url=f"{redis_server.url}/{DATABASE}")
    context = build_context(settings, broker=build_broker(settings))
    upgrade_schema(context.engine)
    yield context
    context.broker.close()
    context.engine.dispose()


class HeldEmbedder:
    """The context's embedder, remembering every text asked for; the first call waits for ``release``."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model, self.dimensions = inner.model, inner.dimensions
        self.texts: list[str] = []
        self.first_call, self.release = threading.Event(), threading.Event()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts.extend(texts)
        if not self.first_call.is_set():
            self.first_call.set()
            assert self.release.wait(30)
        return self.inner.embed(texts)


def stage_run(ctx: Context, document_id: str) -> StageRun:
    return StageRun(ctx, document_id, "normal", Deadline("embed", 60))


def in_thread(target: object, *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread


def blocked_in_blpop(client: redis.Redis) -> bool:
    return any(entry.get("cmd") == "blpop" for entry in client.client_list())


def test_embed_waits_for_a_running_ahead_step_instead_of_asking_for_its_texts_again(
    ctx: Context, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embed_stage, "EMBED_AHEAD_PAGES", 20)  # thirty pages: long enough to be embedded ahead
    document_id = add_document(ctx, "thirty_pages.pdf")
    with ctx.session() as session:
        lifecycle.begin_stage(session, document_id, Stage.PARSE)
    run_parse(stage_run(ctx, document_id))
    with ctx.session() as session:  # back to being read, nothing embedded yet
        session.execute(delete(CachedEmbedding))
        session.execute(
            update(Document).where(Document.id == document_id).values(status=Status.RUNNING, stage=Stage.PARSE)  # type: ignore[arg-type]
        )
    embedder = HeldEmbedder(ctx.embedder)
    ctx.__dict__["embedder"] = embedder  # the cached property's slot

    ahead = in_thread(run_embed_ahead, stage_run(ctx, document_id), 20)
    assert embedder.first_call.wait(10)
    asked_ahead = list(embedder.texts)
    with ctx.session() as session:  # the last pages are read: handed over while the step is out
        lifecycle.hand_over(session, document_id, Stage.EMBED)
    embed = in_thread(run_embed, stage_run(ctx, document_id))
    wait_until(lambda: blocked_in_blpop(client), timeout=10, what="embed waiting for the step's release")
    assert embedder.texts == asked_ahead  # embed asked for nothing meanwhile

    embedder.release.set()
    ahead.join(10)
    embed.join(10)

    assert not ahead.is_alive()
    assert not embed.is_alive()
    assert len(embedder.texts) == len(set(embedder.texts))  # no text asked for twice
    with Session(ctx.engine) as session:
        chunks = list(session.scalars(select(Chunk).where(Chunk.document_id == document_id)))
        cached = set(session.scalars(select(CachedEmbedding.text_sha256)))
        document = session.get(Document, document_id)
    asked = {hashlib.sha256(text.encode()).hexdigest() for text in embedder.texts}
    assert asked == {c.text_sha256 for c in chunks} == cached
    assert document is not None
    assert document.status == Status.COMPLETED  # stored by embed's last commit


def test_a_release_wakes_the_waiter_at_once(client: redis.Redis) -> None:
    """The waiter's poll is two minutes: only the release can explain it going on in time."""
    holder = AheadClaims(client, "a-document", hold_ms=60_000, poll_s=120)
    waiter = AheadClaims(client, "a-document", hold_ms=60_000, poll_s=120)
    done = threading.Event()
    with holder.held():
        in_thread(lambda: (waiter.wait(lambda: None), done.set()))
        wait_until(lambda: blocked_in_blpop(client), timeout=10, what="the waiter blocking")
        assert not done.is_set()
    assert done.wait(10)


def test_a_claim_left_by_a_killed_step_lapses(client: redis.Redis) -> None:
    claims = AheadClaims(client, "a-document", hold_ms=300)
    claims._claim(keys=[claims.key], args=["a-killed-step", 300])  # taken, then neither renewed nor released
    checks: list[None] = []

    claims.wait(lambda: checks.append(None))

    assert checks  # it did wait, until the claim lapsed


def test_a_running_step_keeps_its_claim_past_the_hold(client: redis.Redis) -> None:
    holder = AheadClaims(client, "a-document", hold_ms=300)
    waiter = AheadClaims(client, "a-document", hold_ms=300)
    done = threading.Event()

    def expiry() -> float:
        return max((score for _, score in client.zrange(holder.key, 0, -1, withscores=True)), default=0.0)

    with holder.held():
        first = expiry()
        in_thread(lambda: (waiter.wait(lambda: None), done.set()))
        wait_until(lambda: expiry() > first + 300, timeout=10, what="the claim renewed past its first expiry")
        assert not done.is_set()  # its first hold is over: only the renewals keep the waiter waiting
    assert done.wait(10)
    assert client.zcard(holder.key) == 0, "no renewal after the release"


def test_a_waiter_stops_at_its_deadline(client: redis.Redis) -> None:
    claims = AheadClaims(client, "a-document", hold_ms=60_000)

    def deadline_passed() -> None:
        raise TimeoutError("the stage's deadline")

    with claims.held(), pytest.raises(TimeoutError):
        claims.wait(deadline_passed)


def test_without_redis_claims_do_nothing() -> None:
    claims = AheadClaims(None, "a-document", hold_ms=60_000)
    with claims.held():
        claims.wait(lambda: pytest.fail("nothing to wait for"))


def test_embed_does_not_look_for_ahead_steps_of_a_document_too_short_to_have_any(
    ctx: Context, client: redis.Redis
) -> None:
    """A claim held on a thirty-page document (as no parse would send) does not hold its embed up."""
    document_id = add_document(ctx, "thirty_pages.pdf")
    with ctx.session() as session:
        lifecycle.begin_stage(session, document_id, Stage.PARSE)
    run_parse(stage_run(ctx, document_id))
    with AheadClaims.of(ctx, document_id).held():
        finished = in_thread(run_embed, stage_run(ctx, document_id))
        finished.join(10)
        assert not finished.is_alive(), "embed waited for a claim it should not have looked for"
    with Session(ctx.engine) as session:
        document = session.get(Document, document_id)
    assert document is not None
    assert document.status == Status.COMPLETED
