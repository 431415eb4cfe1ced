"""The limit on embedding requests in flight across processes: a freed slot goes to a waiter at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from pipeline.cli.local_redis import LocalRedis
from pipeline.stages.shared_slots import SharedSlots, SlotWaitAbandoned

pytestmark = pytest.mark.integration

#: So long that only the release's wake-up can explain a waiter getting its slot in time.
POLL_S = 120.0


@pytest.fixture
def client(redis_server: LocalRedis) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_server.url)
    connection.delete("slots-test", "slots-test:freed")
    yield connection
    connection.close()


def slots(client: redis.Redis) -> SharedSlots:
    return SharedSlots(client, "slots-test", limit=1, ttl_ms=60_000, poll_s=POLL_S)


def test_a_released_slot_wakes_a_waiter_instead_of_its_next_poll(client: redis.Redis) -> None:
    holding, release, done = threading.Event(), threading.Event(), threading.Event()
    order: list[str] = []

    def holder() -> None:
        def work() -> None:
            order.append("holder")
            holding.set()
            release.wait(30)

        slots(client).call(work, abandoned=threading.Event(), check=lambda: None)

    def waiter() -> None:
        slots(client).call(lambda: order.append("waiter"), abandoned=threading.Event(), check=lambda: None)
        done.set()

    threads = [threading.Thread(target=holder, daemon=True), threading.Thread(target=waiter, daemon=True)]
    threads[0].start()
    assert holding.wait(30)
    threads[1].start()
    assert not done.wait(0.5), "the waiter got a slot while the only one was held"
    release.set()
    assert done.wait(30), f"the waiter was not woken when the slot came free (its poll is {POLL_S:g}s)"
    assert order == ["holder", "waiter"]
    for thread in threads:
        thread.join(30)


def test_a_waiter_whose_caller_gave_up_stops_waiting(client: redis.Redis) -> None:
    shared = SharedSlots(client, "slots-test", limit=1, ttl_ms=60_000, poll_s=0.05)
    abandoned, release, held = threading.Event(), threading.Event(), threading.Event()
    outcome: list[str] = []

    def hold() -> None:
        held.set()
        release.wait(30)

    holder = threading.Thread(
        target=shared.call, args=(hold,), kwargs={"abandoned": threading.Event(), "check": lambda: None}, daemon=True
    )
    holder.start()
    assert held.wait(30)

    def wait() -> None:
        try:
            shared.call(lambda: outcome.append("called"), abandoned=abandoned, check=lambda: None)
        except SlotWaitAbandoned:
            outcome.append("abandoned")

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    abandoned.set()
    waiter.join(30)
    release.set()
    holder.join(30)
    assert outcome == ["abandoned"]


DIES_HOLDING = """
import sys, threading, time
import redis
from pipeline.stages.shared_slots import SharedSlots
slots = SharedSlots(redis.Redis.from_url(sys.argv[1]), "slots-test", limit=2, ttl_ms=int(sys.argv[2]), poll_s=0.05)
slots.call(lambda: (print("holding", flush=True), time.sleep(600)), abandoned=threading.Event(), check=lambda: None)
"""


def test_the_slot_of_a_killed_holder_comes_back_while_others_keep_using_theirs(
    client: redis.Redis, redis_server: LocalRedis
) -> None:
    """Each hold expires on its own: a counter whose expiry every call renewed (dramatiq's
    ``ConcurrentRateLimiter``) kept a dead process's slot for as long as traffic went on."""
    ttl_ms = 3000
    shared = SharedSlots(client, "slots-test", limit=2, ttl_ms=ttl_ms, poll_s=0.05)
    dying = subprocess.Popen(
        [sys.executable, "-c", DIES_HOLDING, redis_server.url, str(ttl_ms)], stdout=subprocess.PIPE
    )
    try:
        assert dying.stdout is not None
        assert dying.stdout.readline() == b"holding\n"
    finally:
        os.kill(dying.pid, signal.SIGKILL)
        dying.wait(30)
    busy_until = time.monotonic() + 1.5 * ttl_ms / 1000  # others' calls go on past the dead hold's expiry
    while time.monotonic() < busy_until:
        shared.call(lambda: None, abandoned=threading.Event(), check=lambda: None)

    # Within two thirds of a hold: a counter renewed by the first holder's take would outlast that.
    inside, leave = threading.Barrier(3, timeout=ttl_ms / 1500), threading.Event()

    def hold() -> None:
        shared.call(lambda: (inside.wait(), leave.wait(30)), abandoned=threading.Event(), check=lambda: None)

    holders = [threading.Thread(target=hold, daemon=True) for _ in range(2)]
    for holder in holders:
        holder.start()
    try:
        inside.wait()  # both slots held at once, well before a renewed counter would have expired
    except threading.BrokenBarrierError:
        pytest.fail("two callers could not hold both slots: the killed holder's slot is still taken")
    finally:
        leave.set()
        for holder in holders:
            holder.join(30)
