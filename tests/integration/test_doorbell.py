"""Idle workers are woken by new messages (the doorbell), not found by their next poll."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq import Worker

from pipeline.cli.local_redis import LocalRedis
from pipeline.doorbell import DoorbellRedisBroker

pytestmark = pytest.mark.integration

#: dramatiq's idle poll, made so long that only the doorbell can explain a quick hand-over.
IDLE_POLL_MS = 120_000


@pytest.fixture
def broker(redis_server: LocalRedis) -> Iterator[DoorbellRedisBroker]:
    broker = DoorbellRedisBroker(url=redis_server.url, namespace="doorbell-test", doorbell_channel="doorbell-test:bell")
    broker.flush_all()
    yield broker
    broker.close()


def test_a_chain_of_messages_crosses_idle_queues_without_waiting_for_a_poll(broker: DoorbellRedisBroker) -> None:
    finished = threading.Event()

    @dramatiq.actor(broker=broker, queue_name="first", max_retries=0)
    def first() -> None:
        second.send()

    @dramatiq.actor(broker=broker, queue_name="second", max_retries=0)
    def second() -> None:
        third.send()

    @dramatiq.actor(broker=broker, queue_name="third", max_retries=0)
    def third() -> None:
        finished.set()

    worker = Worker(broker, worker_timeout=IDLE_POLL_MS, worker_threads=2)
    worker.start()
    try:
        # Every consumer finds its queue empty and settles into its wait.
        time.sleep(1.0)
        first.send()
        assert finished.wait(20), "three idle queues handed the work on within seconds, not polls of 120 s"
    finally:
        # Its idle worker threads wait on dramatiq's in-process queue for the whole poll period; the
        # consumers, woken by the shutdown, stop at once.
        worker.stop(timeout=2000)
        assert not any(consumer.is_alive() for consumer in worker.consumers.values())


def test_a_message_queued_while_nobody_listens_is_found_by_the_poll(broker: DoorbellRedisBroker) -> None:
    done = threading.Event()

    @dramatiq.actor(broker=broker, queue_name="quiet", max_retries=0)
    def quiet() -> None:
        done.set()

    # Queued with no worker and so no listener: the ring is lost, the message is not.
    quiet.send()
    worker = Worker(broker, worker_timeout=200, worker_threads=1)
    worker.start()
    try:
        assert done.wait(20)
    finally:
        worker.stop()


def test_a_queue_given_a_prefetch_of_one_runs_one_message_at_a_time(redis_server: LocalRedis) -> None:
    """The parse queues' cap: free threads do not take a second message from a capped queue."""
    broker = DoorbellRedisBroker(
        url=redis_server.url,
        namespace="prefetch-test",
        doorbell_channel="prefetch-test:bell",
        queue_prefetch={"capped": 1},
    )
    broker.flush_all()
    release = threading.Event()
    started: dict[str, list[int]] = {"capped": [], "open": []}
    finished = threading.Semaphore(0)

    def work(queue: str, number: int) -> None:
        started[queue].append(number)
        release.wait(20)
        finished.release()

    capped = dramatiq.actor(lambda n: work("capped", n), actor_name="capped", queue_name="capped", broker=broker)
    uncapped = dramatiq.actor(lambda n: work("open", n), actor_name="open", queue_name="open", broker=broker)
    for number in range(3):
        capped.send(number)
        uncapped.send(number)
    worker = Worker(broker, worker_timeout=200, worker_threads=6)
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while len(started["open"]) < 3 or not started["capped"]:
            assert time.monotonic() < deadline, f"never all under way: {started}"
            time.sleep(0.01)
        assert not release.wait(0.5)  # threads are free, yet the capped queue's second message waits
        assert len(started["capped"]) == 1
        release.set()
        for _ in range(6):
            assert finished.acquire(timeout=20)
        assert sorted(started["capped"]) == [0, 1, 2]
    finally:
        release.set()
        worker.stop()
        broker.close()


def test_a_finished_message_frees_its_slot_in_a_full_queue_without_waiting_for_a_poll(
    redis_server: LocalRedis,
) -> None:
    """A queue capped at one message is full while it runs: the next is fetched because the finished
    one rings, not found by a poll (of 120 s here)."""
    broker = DoorbellRedisBroker(
        url=redis_server.url, namespace="full-test", doorbell_channel="full-test:bell", queue_prefetch={"one": 1}
    )
    broker.flush_all()
    done = threading.Semaphore(0)
    one = dramatiq.actor(lambda n: done.release(), actor_name="one", queue_name="one", broker=broker, max_retries=0)
    for number in range(3):
        one.send(number)
    worker = Worker(broker, worker_timeout=IDLE_POLL_MS, worker_threads=2)
    worker.start()
    try:
        for _ in range(3):
            assert done.acquire(timeout=20), "a freed slot waited for the idle poll"
    finally:
        worker.stop(timeout=2000)
        broker.close()
