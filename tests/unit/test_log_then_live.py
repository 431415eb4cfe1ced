"""How a stream merges the event log with the hub: replays, resyncs, gaps, and its end."""

from __future__ import annotations

import asyncio
from typing import Any

from api.fanout import Signal, Subscription
from api.streams import Replayed, log_then_live


def event(seq: int) -> dict[str, Any]:
    return {"document_id": "d", "seq": seq, "name": "progress", "data": {}}


def run(live: list[Any], pages: list[Replayed], *, replay_first: bool, gap_after: int | None = None) -> list[int]:
    async def scenario() -> tuple[list[int], int]:
        subscription = Subscription("d")
        for item in live:
            subscription.offer(item)
        reads = iter(pages)
        replays = 0

        async def replay() -> Replayed:
            nonlocal replays
            replays += 1
            return next(reads)

        missed = (lambda item: item["seq"] > gap_after) if gap_after is not None else (lambda _: False)
        seen = [
            item["seq"] async for item in log_then_live(subscription, replay, replay_first=replay_first, missed=missed)
        ]
        return seen, replays

    seen, replays = asyncio.run(scenario())
    assert replays == sum(1 for _ in pages), "every page read, no more"
    return seen


def test_the_log_first_then_live_until_closed() -> None:
    seen = run([event(3), Signal.CLOSED], [Replayed([event(1), event(2)])], replay_first=True)
    assert seen == [1, 2, 3]


def test_pages_are_read_until_the_last_one() -> None:
    pages = [Replayed([event(1)], more=True), Replayed([event(2)], more=True), Replayed([event(3)])]
    assert run([Signal.CLOSED], pages, replay_first=True) == [1, 2, 3]


def test_resync_reads_the_log_again() -> None:
    live = [event(1), Signal.RESYNC, event(4), Signal.CLOSED]
    assert run(live, [Replayed([event(2), event(3)])], replay_first=False) == [1, 2, 3, 4]


def test_a_live_event_past_a_gap_is_taken_from_the_log_instead() -> None:
    live = [event(1), event(3), Signal.CLOSED]
    seen = run(live, [Replayed([event(2), event(3)])], replay_first=False, gap_after=1)
    assert seen == [1, 2, 3]


def test_a_read_that_says_over_ends_the_stream() -> None:
    assert run([event(9)], [Replayed([event(1)], over=True)], replay_first=True) == [1]
