"""The gate in front of the embedding provider and the lanes that hold its slots, on a real Redis:
the limit on requests in flight across processes (a freed slot goes to a waiter at once, a killed
holder's slot comes back, a slot kept for the next request goes to another process that waits)
and the circuit breaker. Each ``ProviderLanes`` stands for one process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
import redis

from pipeline.cli.local_redis import LocalRedis
from pipeline.stages.provider_gate import CLAIM_MS, PROBE_WAIT_S, CircuitOpen, ProviderGate
from pipeline.stages.provider_lanes import ProviderLanes
from tests.support.held_calls import FirstHeld
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

T = TypeVar("T")

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


def lanes(client: redis.Redis, *, limit: int = 1, **options: float) -> ProviderLanes:
    return ProviderLanes(gate(client, limit=limit, **options), limit)  # type: ignore[arg-type]


def send(shared: ProviderLanes, call: Callable[[], T]) -> T:
    return shared.submit([call])[0].result(60)


def passes(shared: ProviderLanes) -> bool:
    """Whether a call gets through now; ``False`` if the circuit refuses it."""
    try:
        return send(shared, lambda: True)
    except CircuitOpen:
        return False


def test_a_released_slot_wakes_a_waiter_instead_of_its_next_poll(client: redis.Redis) -> None:
    holding, release = threading.Event(), threading.Event()
    order: list[str] = []

    def hold() -> None:
        order.append("holder")
        holding.set()
        release.wait(30)

    held = lanes(client).submit([hold])[0]
    assert holding.wait(30)
    waited = lanes(client).submit([lambda: order.append("waiter")])[0]
    wait_until(lambda: client.zcard(f"{SLOTS}:waiting") == 1, timeout=30, what="the second process to wait")
    assert not waited.done(), "the waiter got a slot while the only one was held"
    release.set()
    held.result(30)
    waited.result(30)  # its poll is POLL_S: only the release's wake-up gets it there in time
    assert order == ["holder", "waiter"]


def test_a_batch_canceled_while_it_waits_for_a_slot_is_never_sent(client: redis.Redis) -> None:
    release, held = threading.Event(), threading.Event()
    sent: list[str] = []
    holder = lanes(client, poll_s=0.05).submit([lambda: (held.set(), release.wait(30))])[0]
    assert held.wait(30)
    waiting = lanes(client, poll_s=0.05).submit([lambda: sent.append("sent")])[0]
    wait_until(lambda: client.zcard(f"{SLOTS}:waiting") == 1, timeout=30, what="its lane to wait for the slot")
    assert waiting.cancel()
    wait_until(lambda: client.zcard(f"{SLOTS}:waiting") == 0, timeout=30, what="its lane to stop waiting")
    release.set()
    holder.result(30)
    assert sent == []
    wait_until(lambda: client.zcard(SLOTS) == 0, timeout=30, what="the holder to let its slot go, no batch left")


def test_a_lane_keeps_its_slot_from_one_batch_to_the_next(client: redis.Redis) -> None:
    """Nobody else waits: the slot is not let go and taken again between two requests."""
    shared = lanes(client)
    assert shared.gate is not None
    entered: list[str] = []
    enter = shared.gate.enter
    shared.gate.enter = lambda holder: (entered.append(holder), enter(holder))[1]  # type: ignore[method-assign]
    holders: list[list[bytes]] = []
    futures = shared.submit([lambda: holders.append(client.zrange(SLOTS, 0, -1)) for _ in range(5)])
    for future in futures:
        future.result(30)
    assert len(entered) == 1, "one slot taken for all five"
    assert len(holders) == 5
    assert all(held == holders[0] and len(held) == 1 for held in holders)
    wait_until(lambda: client.zcard(SLOTS) == 0, timeout=30, what="the slot let go once no batch was left")


def test_a_slot_kept_for_the_next_batch_goes_to_another_process_that_waits(client: redis.Redis) -> None:
    calls = FirstHeld("ours-0")
    mine = lanes(client, poll_s=0.05).submit([calls.call(f"ours-{i}") for i in range(3)])
    assert calls.first_sent.wait(30)
    theirs = lanes(client, poll_s=0.05).submit([calls.call("theirs")])
    wait_until(lambda: client.zcard(f"{SLOTS}:waiting") == 1, timeout=30, what="the other process to wait")
    calls.go_on.set()
    for future in mine + theirs:
        future.result(30)
    assert calls.order == ["ours-0", "theirs", "ours-1", "ours-2"]


DIES_HOLDING = """
import sys, time
import redis
from pipeline.stages.provider_gate import ProviderGate
from pipeline.stages.provider_lanes import ProviderLanes
gate = ProviderGate(
    redis.Redis.from_url(sys.argv[1]), slots_key="gate-test:slots", circuit_key="gate-test:circuit",
    limit=2, hold_ms=int(sys.argv[2]), poll_s=0.05, threshold=3, open_s=30,
)
ProviderLanes(gate, 2).submit([lambda: (print("holding", flush=True), time.sleep(600))])[0].result()
"""


def test_the_slot_of_a_killed_holder_comes_back_while_others_keep_using_theirs(
    client: redis.Redis, redis_server: LocalRedis
) -> None:
    """Each hold expires on its own: a counter whose expiry every call renewed (dramatiq's
    ``ConcurrentRateLimiter``) kept a dead process's slot for as long as traffic went on."""
    ttl_ms = 3000
    shared = lanes(client, limit=2, hold_ms=ttl_ms, poll_s=0.05)
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
        send(shared, lambda: None)

    # Within two thirds of a hold: a counter renewed by the first holder's take would outlast that.
    inside, leave = threading.Barrier(3, timeout=ttl_ms / 1500), threading.Event()

    holders = shared.submit([lambda: (inside.wait(), leave.wait(30))] * 2)
    try:
        inside.wait()  # both slots held at once, well before a renewed counter would have expired
    except threading.BrokenBarrierError:
        pytest.fail("two callers could not hold both slots: the killed holder's slot is still taken")
    finally:
        leave.set()
        for holder in holders:
            holder.exception(30)


def test_the_circuit_opens_after_failures_in_a_row_and_refuses_calls_without_taking_a_slot(
    client: redis.Redis,
) -> None:
    shared = lanes(client, threshold=3, open_s=30)
    assert shared.gate is not None
    failed = shared.gate.failed

    def failing() -> None:
        failed()
        raise RuntimeError("the provider is down")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            send(shared, failing)
    assert passes(shared), "two failures in a row are under the threshold of three"
    wait_until(lambda: not client.exists(f"{CIRCUIT}:failures"), timeout=30, what="a success to start the count again")
    for _ in range(3):
        with pytest.raises(RuntimeError):
            send(shared, failing)
    with pytest.raises(CircuitOpen) as refused:
        send(shared, lambda: pytest.fail("called through an open circuit"))
    assert 25 < refused.value.wait_s <= 30
    assert client.zcard(SLOTS) == 0, "a refused call holds no slot"


def test_once_the_circuit_has_been_open_its_time_one_caller_probes_and_its_success_closes_it(
    client: redis.Redis,
) -> None:
    shared = lanes(client, limit=2, threshold=2)
    client.set(f"{CIRCUIT}:failures", 2)
    client.set(f"{CIRCUIT}:open", 2, px=1000)
    assert not passes(shared), "open for another second"
    deadline = time.monotonic() + 10
    while client.exists(f"{CIRCUIT}:open") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not client.exists(f"{CIRCUIT}:open"), "the open time ran out"
    probing, finish = threading.Event(), threading.Event()

    prober = shared.submit([lambda: (probing.set(), finish.wait(30))])[0]
    try:
        assert probing.wait(30), "the first caller after the open time probes"
        with pytest.raises(CircuitOpen) as refused:
            send(shared, lambda: pytest.fail("a second call while one probes"))
        assert refused.value.wait_s == PROBE_WAIT_S
        assert client.zcard(SLOTS) == 1, "only the probe holds a slot"
    finally:
        finish.set()
        prober.result(30)
    wait_until(
        lambda: not client.exists(f"{CIRCUIT}:failures", f"{CIRCUIT}:probe"),
        timeout=30,
        what="the probe's success to close the circuit",
    )
    assert passes(shared)
    assert passes(shared)


def test_a_probe_that_fails_for_a_reason_of_its_own_lets_the_next_caller_probe(client: redis.Redis) -> None:
    """Not the provider's failure (``failed`` was not called): the circuit stays half-open, and the
    next caller probes at once instead of waiting out the first probe's hold."""
    shared = lanes(client, threshold=2)
    client.set(f"{CIRCUIT}:failures", 2)

    def rejected_input() -> None:
        raise ValueError("the input was refused")

    with pytest.raises(ValueError, match="refused"):
        send(shared, rejected_input)
    assert not client.exists(f"{CIRCUIT}:probe")
    assert passes(shared), "the next caller probed"
    wait_until(lambda: not client.exists(f"{CIRCUIT}:failures"), timeout=30, what="its success to close the circuit")


def test_a_slot_handed_to_a_waiter_that_died_comes_back_after_its_claim_time(client: redis.Redis) -> None:
    shared = lanes(client, poll_s=0.05)
    client.zadd(f"{SLOTS}:waiting", {"another-process:killed": time.time() * 1000 + 60_000})
    send(shared, lambda: None)  # its slot goes to the listed waiter, which never claims it
    wait_until(lambda: client.zrange(SLOTS, 0, -1) == [b"another-process:killed"], timeout=30, what="the hand-over")
    claim_ends_ms = client.zscore(SLOTS, "another-process:killed")
    assert claim_ends_ms is not None
    assert claim_ends_ms <= time.time() * 1000 + CLAIM_MS + 1000, "kept for a claim, not for a whole hold"
    assert send(shared, lambda: "sent") == "sent", "the only slot, unclaimed, came back"
