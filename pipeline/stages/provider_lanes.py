"""The process's lanes to the embedding provider: at most ``lanes`` threads, each sending one batch at
a time, from whichever stage of the process submitted it.

With a gate (``pipeline.stages.provider_gate``) a lane takes a slot before its first request and
keeps it for the next one while the process has batches waiting and no other process waits for a
slot: one round trip to Redis between two requests. Before, every embed message had a pool of
threads as wide as the limit, each request took a slot and let it go in round trips of its own,
and each release woke a waiting thread to take it: more threads, more round trips, more CPU a
page for the same requests (see the benchmark log, tests/benchmarks/README.md).

Batches are taken a submitter at a time in turn, so a big document does not hold up a small one's.
Batches submitted with their inputs are merged: a lane that finds several waiting sends as many in
one request as ``max_inputs`` allows (one small document's batch is a few inputs, and the provider
charges its fixed cost per request), and hands each submitter its own part of the answer. Nothing
waits for a request to fill up: only batches already waiting for a lane are merged, so a lone
document goes out as it would have. A merged request the provider rejects is sent again part by
part, so that only the document whose input it refused fails. A merged request runs with the log
fields of every submitter it carries, as lists (``document_ids``, ...), so that what it logs names
each document.
Lanes start when batches are submitted and end when none is left; they are not daemon threads, so a
worker shutting down lets its slots go instead of leaving them to expire.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from pipeline.errors import EmbeddingRejected
from pipeline.stages.provider_gate import CircuitOpen, ProviderGate

log = logging.getLogger(__name__)

R = TypeVar("R")
#: A request for many inputs at once: one result per input, in their order.
Merged = Callable[[Sequence[str]], list[Any]]


@dataclass(eq=False)
class _Batch:
    future: Future[Any]
    context: contextvars.Context
    call: Callable[[], Any]
    #: What ``call`` asks for, when it may go out merged with other batches' inputs.
    inputs: Sequence[str] | None = None

    def send(self) -> bool:
        """Whether it succeeded; its answer or failure is the submitter's."""
        try:
            result = self.context.run(self.call)
        except BaseException as exc:  # a lane's end: whatever it was, the submitter must hear of it
            self.future.set_exception(exc)
            return False
        self.future.set_result(result)
        return True


class ProviderLanes:
    def __init__(
        self, gate: ProviderGate | None, lanes: int, *, merged: Merged | None = None, max_inputs: int = 0
    ) -> None:
        self.gate = gate
        self.lanes = lanes
        self.merged = merged
        self.max_inputs = max_inputs
        #: Starts the name of each of this process's holders, so that a holder can tell others' waiters.
        self.process = f"{uuid.uuid4().hex}:"
        self._lock = threading.Lock()
        self._submitters: deque[deque[_Batch]] = deque()
        self._served_last: deque[_Batch] | None = None
        self._running = 0

    def submit(
        self, calls: Sequence[Callable[[], R]], *, inputs: Sequence[Sequence[str]] | None = None
    ) -> list[Future[R]]:
        """Each call made in a lane, in the submitter's context (its log context names the document).
        With ``inputs`` (what each call asks ``merged`` for), calls may go out merged with others'.
        A future canceled before its lane takes it is never sent."""
        mergeable = inputs if self.merged is not None and inputs is not None else [None] * len(calls)
        batches = deque(
            _Batch(Future(), contextvars.copy_context(), call, batch_inputs)
            for call, batch_inputs in zip(calls, mergeable, strict=True)
        )
        futures = [batch.future for batch in batches]
        if not batches:
            return futures
        with self._lock:
            self._submitters.append(batches)
            waiting = sum(len(queued) for queued in self._submitters)
            starting = max(0, min(self.lanes - self._running, waiting))
            self._running += starting
        for _ in range(starting):
            threading.Thread(target=self._lane, name="pdfline-provider-lane").start()
        return futures

    def _lane(self) -> None:
        holder = f"{self.process}{uuid.uuid4().hex}"
        while self._has_work(retire=True):
            if self.gate is None:
                while batches := self._next():
                    self._send(batches)
                continue
            try:
                probe = self._take_slot(self.gate, holder)
            except Exception as exc:  # Redis is gone: the next batch fails with it, not silently
                self._refuse_next(exc)
                continue
            if probe is not None:
                self._send_holding(self.gate, holder, probe)

    def _take_slot(self, gate: ProviderGate, holder: str) -> bool | None:
        """A slot (and whether this lane probes the circuit), or None once no batch waits. An open
        circuit's refusal fails the next batch with ``CircuitOpen``."""
        while self._has_work():
            taken, refused_s, probe = gate.enter(holder)
            if taken:
                return probe
            if refused_s:
                self._refuse_next(CircuitOpen(refused_s))
                continue
            gate.wait_for_release(holder)
        gate.stop_waiting(holder)
        return None

    def _send_holding(self, gate: ProviderGate, holder: str, probe: bool) -> None:
        """Batch after batch on one slot, until one fails, none is left, or another process waits."""
        try:
            while batches := self._next():
                if not self._send(batches):
                    gate.leave(holder, probe=probe)
                    return
                probe = False
                if not gate.keep(holder, process=self.process, stay=self._has_work()):
                    return
            gate.leave(holder)
        except Exception as exc:  # the answers are in; the hold expires on its own
            log.warning("could not let an embedding slot go: %s", exc)

    def _has_work(self, *, retire: bool = False) -> bool:
        """Whether a batch not canceled waits; with ``retire``, a lane that finds none ends."""
        with self._lock:
            for batches in self._submitters:
                if canceled := [batch for batch in batches if batch.future.cancelled()]:
                    for batch in canceled:  # notified, as an executor does: done for ``wait`` then
                        batch.future.set_running_or_notify_cancel()
                    kept = [batch for batch in batches if batch not in canceled]
                    batches.clear()
                    batches.extend(kept)
            self._submitters = deque(batches for batches in self._submitters if batches)
            if not self._submitters and retire:
                self._running -= 1
            return bool(self._submitters)

    def _send(self, batches: list[_Batch]) -> bool:
        """One request for the batches; whether it succeeded."""
        if len(batches) == 1:
            return batches[0].send()
        assert self.merged is not None
        inputs = [text for batch in batches for text in batch.inputs or ()]
        try:
            results = _merged_context(batches).run(self.merged, inputs)
        except EmbeddingRejected:  # one part's input, most likely: each alone, and only its own fails
            return all([batch.send() for batch in batches])
        except BaseException as exc:  # the provider's state, not an input's: every part hears of it
            for batch in batches:
                batch.future.set_exception(exc)
            return False
        start = 0
        for batch in batches:
            end = start + len(batch.inputs or ())
            batch.future.set_result(results[start:end])
            start = end
        return True

    def _next(self) -> list[_Batch]:
        """The next request's batches, from each submitter in turn, merged while their inputs fit;
        none if none waits."""
        taken: list[_Batch] = []
        room = self.max_inputs
        with self._lock:
            while self._submitters:
                batch = self._peek_in_turn()
                if taken and (batch.inputs is None or len(batch.inputs) > room):
                    break
                self._take_in_turn()
                if not batch.future.set_running_or_notify_cancel():
                    continue
                taken.append(batch)
                if batch.inputs is None:
                    break
                room -= len(batch.inputs)
        return taken

    def _refuse_next(self, error: Exception) -> None:
        for batch in self._next():
            batch.future.set_exception(error)

    def _peek_in_turn(self) -> _Batch:
        return self._next_submitter()[0]

    def _next_submitter(self) -> deque[_Batch]:
        """The submitter served last goes behind the others only now, so that one that came
        meanwhile is next."""
        if self._submitters[0] is self._served_last and len(self._submitters) > 1:
            self._submitters.rotate(-1)
        return self._submitters[0]

    def _take_in_turn(self) -> _Batch:
        batches = self._served_last = self._next_submitter()
        batch = batches.popleft()
        if not batches:
            self._submitters.popleft()
        return batch


def _merged_context(batches: list[_Batch]) -> contextvars.Context:
    """The lane's context for one request made for several submitters, with each of their log fields
    bound as the list of its distinct values, under its name made plural (``document_id`` →
    ``document_ids``)."""
    fields: dict[str, list[Any]] = {}
    for batch in batches:
        for name, value in batch.context.run(structlog.contextvars.get_contextvars).items():
            values = fields.setdefault(f"{name}s", [])
            if value not in values:
                values.append(value)
    context = contextvars.copy_context()
    context.run(structlog.contextvars.bind_contextvars, **fields)
    return context
