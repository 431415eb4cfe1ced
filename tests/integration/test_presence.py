"""Worker presence on a real Redis: every worker process is counted, and only those that take parse
messages are counted for a big PDF's page ranges (``pdfline up`` runs a worker that does not)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from pipeline.cli.local_redis import LocalRedis
from pipeline.messages import parse_queue_names, vectors_queue_names
from pipeline.middleware import presence as presence_module
from pipeline.middleware.presence import WorkerPresence
from pipeline.queues import live_workers
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

#: A database of the test Redis of its own: the other tests' workers mark themselves in database 0.
DATABASE = 8


@pytest.fixture
def broker(redis_server: LocalRedis) -> Iterator[RedisBroker]:
    broker = RedisBroker(url=f"{redis_server.url}/{DATABASE}")
    broker.client.flushdb()
    yield broker
    broker.client.flushdb()
    broker.close()


def present(client: redis.Redis, listens_to: set[str] | None) -> WorkerPresence:
    """A worker process booted with ``--queues listens_to`` (``None``: all queues)."""
    presence = WorkerPresence(client, interval_s=60, parse_queues=parse_queue_names("pdfline"))
    presence.after_worker_boot(broker=None, worker=SimpleNamespace(consumer_whitelist=listens_to))  # type: ignore[arg-type]
    return presence


def test_only_workers_that_parse_are_counted_for_page_ranges(
    broker: RedisBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    hosts = (f"host-{number}" for number in itertools.count())  # three processes, not this one thrice
    monkeypatch.setattr(presence_module.socket, "gethostname", lambda: next(hosts))
    every_queue = present(broker.client, None)
    parsing = present(broker.client, set(parse_queue_names("pdfline")))
    vectors = present(broker.client, {*vectors_queue_names("pdfline"), "pdfline.jobs"})

    wait_until(lambda: live_workers(broker, 60) == 3, timeout=10, what="three workers present")
    wait_until(lambda: live_workers(broker, 60, parsing=True) == 2, timeout=10, what="two of them parsing")

    parsing.before_worker_shutdown(broker, None)
    assert live_workers(broker, 60, parsing=True) == 1
    assert live_workers(broker, 60) == 2
    every_queue.before_worker_shutdown(broker, None)
    vectors.before_worker_shutdown(broker, None)
    assert live_workers(broker, 60) == 0
