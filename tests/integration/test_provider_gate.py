"""The gate in front of the embedding provider, on a real Redis: the limit on requests in flight
across processes (a freed slot goes to a waiter at once, a killed holder's slot comes back) and the
circuit breaker, both answered by the one script each request passes."""

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
from pipeline.stages.provider_gate import PROBE_WAIT_S, CircuitOpen, ProviderGate, SlotWaitAbandoned

pytestmark = pytest.mark.integration

#: So long that only the release's wake-up can explain a waiter getting its slot in time.
POLL_S = 120.0
SLOTS, CIRCUIT = "gate-test:slots", "gate-test:circuit"


@pytest.fixture
def client(redis_server: LocalRedis) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_server.url)
    for key in connection.keys("gate-test:*"):
        connection.delete(key)
    yield connection
    connection.close()


def gate(
    client: redis.Redis,
    *,
    limit: int = 1,
    hold_ms: int = 60_000,
    poll_s: float = POLL_S,
    threshold: int = 3,
    open_s: float = 30.0,
) -> ProviderGate:
    return ProviderGate(
        client,
        slots_key=SLOTS,
        circuit_key=CIRCUIT,
        limit=limit,
        hold_ms=hold_ms,
        poll_s=poll_s,
        threshold=threshold,
        open_s=open_s,
    )


def passes(shared: ProviderGate) -> bool:
    """Whether a call gets through now; ``False`` if the circuit refuses it."""
    try:
        return shared.call(lambda: True, abandoned=threading.Event(), check=lambda: None)
    except CircuitOpen:
        return False


def test_a_released_slot_wakes_a_waiter_instead_of_its_next_poll(client: redis.Redis) -> None:
    holding, release, done = threading.Event(), threading.Event(), threading.Event()
    order: list[str] = []

    def holder() -> None:
        def work() -> None:
            order.append("holder")
            holding.set()
            release.wait(30)

        gate(client).call(work, abandoned=threading.Event(), check=lambda: None)

    def waiter() -> None:
        gate(client).call(lambda: order.append("waiter"), abandoned=threading.Event(), check=lambda: None)
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
    shared = gate(client, poll_s=0.05)
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
from pipeline.stages.provider_gate import ProviderGate
gate = ProviderGate(
    redis.Redis.from_url(sys.argv[1]), slots_key="gate-test:slots", circuit_key="gate-test:circuit",
    limit=2, hold_ms=int(sys.argv[2]), poll_s=0.05, threshold=3, open_s=30,
)
gate.call(lambda: (print("holding", flush=True), time.sleep(600)), abandoned=threading.Event(), check=lambda: None)
"""


def test_the_slot_of_a_killed_holder_comes_back_while_others_keep_using_theirs(
    client: redis.Redis, redis_server: LocalRedis
) -> None:
    """Each hold expires on its own: a counter whose expiry every call renewed (dramatiq's
    ``ConcurrentRateLimiter``) kept a dead process's slot for as long as traffic went on."""
    ttl_ms = 3000
    shared = gate(client, limit=2, hold_ms=ttl_ms, poll_s=0.05)
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


def test_the_circuit_opens_after_failures_in_a_row_and_refuses_calls_without_taking_a_slot(
    client: redis.Redis,
) -> None:
    shared = gate(client, threshold=3, open_s=30)

    def failing() -> None:
        shared.failed()
        raise RuntimeError("the provider is down")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            shared.call(failing, abandoned=threading.Event(), check=lambda: None)
    assert passes(shared), "two failures in a row are under the threshold of three"
    assert not client.exists(f"{CIRCUIT}:failures"), "a success starts the count again"
    for _ in range(3):
        with pytest.raises(RuntimeError):
            shared.call(failing, abandoned=threading.Event(), check=lambda: None)
    with pytest.raises(CircuitOpen) as refused:
        shared.call(
            lambda: pytest.fail("called through an open circuit"), abandoned=threading.Event(), check=lambda: None
        )
    assert 25 < refused.value.wait_s <= 30
    assert client.zcard(SLOTS) == 0, "a refused call holds no slot"


def test_once_the_circuit_has_been_open_its_time_one_caller_probes_and_its_success_closes_it(
    client: redis.Redis,
) -> None:
    shared = gate(client, limit=2, threshold=2)
    client.set(f"{CIRCUIT}:failures", 2)
    client.set(f"{CIRCUIT}:open", 2, px=1000)
    assert not passes(shared), "open for another second"
    deadline = time.monotonic() + 10
    while client.exists(f"{CIRCUIT}:open") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not client.exists(f"{CIRCUIT}:open"), "the open time ran out"
    probing, finish = threading.Event(), threading.Event()

    def probe() -> None:
        shared.call(lambda: (probing.set(), finish.wait(30)), abandoned=threading.Event(), check=lambda: None)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    try:
        assert probing.wait(30), "the first caller after the open time probes"
        with pytest.raises(CircuitOpen) as refused:
            shared.call(
                lambda: pytest.fail("a second call while one probes"), abandoned=threading.Event(), check=lambda: None
            )
        assert refused.value.wait_s == PROBE_WAIT_S
        assert client.zcard(SLOTS) == 1, "only the probe holds a slot"
    finally:
        finish.set()
        prober.join(30)
    assert not client.exists(f"{CIRCUIT}:failures", f"{CIRCUIT}:probe"), "the probe's success closed the circuit"
    assert passes(shared)
    assert passes(shared)


def test_a_probe_that_fails_for_a_reason_of_its_own_lets_the_next_caller_probe(client: redis.Redis) -> None:
    """Not the provider's failure (``failed`` was not called): the circuit stays half-open, and the
    next caller probes at once instead of waiting out the first probe's hold."""
    shared = gate(client, threshold=2)
    client.set(f"{CIRCUIT}:failures", 2)

    def rejected_input() -> None:
        raise ValueError("the input was refused")

    with pytest.raises(ValueError, match="refused"):
        shared.call(rejected_input, abandoned=threading.Event(), check=lambda: None)
    assert not client.exists(f"{CIRCUIT}:probe")
    assert passes(shared), "the next caller probed, and its success closed the circuit"
    assert not client.exists(f"{CIRCUIT}:failures")
