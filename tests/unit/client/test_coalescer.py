"""`client.coalescer.Coalescer` on a fake clock: deadlines and the linger.

Batch calls are `_Future`s completed by the test; the clock is a list the test
advances, so whether a batch is due never depends on how fast the machine runs.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import grpc

from client.coalescer import Coalescer
from client.errors import CallFailure
from tests.unit.client.test_batching import wait_until


class _Future:
    """A grpc.Future stand-in completed by the test."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[Any], None]] = []
        self._value: Any = None

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        self._callbacks.append(fn)

    def result(self) -> Any:
        return self._value

    def complete(self, value: Any) -> None:
        self._value = value
        for fn in self._callbacks:
            fn(self)


def test_an_item_that_expired_in_the_queue_fails_unsent_and_sets_no_deadline() -> None:
    now = [0.0]
    started: list[tuple[list[str], float | None, _Future]] = []

    def start(requests: list[str], timeout: float | None) -> _Future:
        future = _Future()
        started.append((requests, timeout, future))
        return future

    coalescer: Coalescer[str, str] = Coalescer(
        start,
        lambda reply: list(reply),
        unsupported=threading.Event(),
        max_outstanding=1,
        clock=lambda: now[0],
    )
    outcomes: dict[str, str | CallFailure | None] = {}

    def call(request: str, timeout: float) -> None:
        outcomes[request] = coalescer.call(request, timeout)

    threads = [threading.Thread(target=call, args=(r, t)) for r, t in (("a", 5.0), ("b", 1.0))]
    threads[0].start()
    wait_until(lambda: len(started) == 1)
    threads[1].start()
    wait_until(lambda: coalescer.queued() == 1)
    threads.append(threading.Thread(target=call, args=("c", 10.0)))
    threads[2].start()
    wait_until(lambda: coalescer.queued() == 2)
    now[0] = 2.0  # b's deadline (1.0) has passed; c's is 10.0
    started[0][2].complete(["A"])
    wait_until(lambda: len(started) == 2)
    assert started[0][:2] == (["a"], 5.0)
    assert started[1][:2] == (["c"], 8.0)  # the batch's deadline: its items' earliest
    started[1][2].complete(["C"])
    for t in threads:
        t.join(timeout=5)
    assert outcomes["a"] == "A"
    assert outcomes["c"] == "C"
    failure = outcomes["b"]
    assert isinstance(failure, CallFailure)
    assert failure.grpc_code == grpc.StatusCode.DEADLINE_EXCEEDED


class _Harness:
    """A coalescer over `_Future` batch calls, on a fake clock, and its callers."""

    def __init__(self, *, linger_s: float, max_outstanding: int = 1, max_batch: int = 256) -> None:
        self.now = [0.0]
        self.started: list[tuple[list[str], _Future]] = []
        self.outcomes: dict[str, str | CallFailure | None] = {}
        self.coalescer: Coalescer[str, str] = Coalescer(
            self._start,
            lambda reply: list(reply),
            unsupported=threading.Event(),
            max_outstanding=max_outstanding,
            max_batch=max_batch,
            linger_s=linger_s,
            clock=lambda: self.now[0],
        )
        self._threads: list[threading.Thread] = []

    def _start(self, requests: list[str], timeout: float | None) -> _Future:
        future = _Future()
        self.started.append((requests, future))
        return future

    def call(self, *requests: str) -> None:
        """Each request from its own thread, in order, each queued before the next."""
        for request in requests:
            before = self.coalescer.queued()
            thread = threading.Thread(target=self._call, args=(request,))
            thread.start()
            self._threads.append(thread)
            wait_until(functools.partial(self._taken, request, before))

    def _taken(self, request: str, queued_before: int) -> bool:
        return self.coalescer.queued() > queued_before or request in self.sent()

    def _call(self, request: str) -> None:
        self.outcomes[request] = self.coalescer.call(request, 60.0)

    def sent(self) -> list[str]:
        return [r for requests, _ in self.started for r in requests]

    def batches(self) -> list[list[str]]:
        return [requests for requests, _ in self.started]

    def answer(self, index: int) -> None:
        requests, future = self.started[index]
        future.complete([r.upper() for r in requests])

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=5)
            assert not thread.is_alive()


def test_a_lingering_batch_collects_the_calls_made_meanwhile() -> None:
    h = _Harness(linger_s=0.05)
    h.call("a", "b", "c")
    assert h.batches() == []  # the oldest has not waited its linger (fake time stands)
    h.now[0] = 0.05  # now it has: its caller, waking, sends everything queued
    wait_until(lambda: h.batches() == [["a", "b", "c"]])
    h.answer(0)
    h.join()
    assert h.outcomes == {"a": "A", "b": "B", "c": "C"}


def test_a_full_batch_goes_at_once_without_its_linger() -> None:
    h = _Harness(linger_s=0.05, max_batch=2)
    h.call("a", "b")
    wait_until(lambda: h.batches() == [["a", "b"]])
    h.call("c")
    assert h.batches() == [["a", "b"]]  # c lingers for company
    h.answer(0)
    h.now[0] = 0.05
    wait_until(lambda: h.batches() == [["a", "b"], ["c"]])
    h.answer(1)
    h.join()
    assert h.outcomes == {"a": "A", "b": "B", "c": "C"}


def test_a_completion_sends_a_due_batch_but_not_one_still_lingering() -> None:
    h = _Harness(linger_s=0.05, max_outstanding=1)
    h.call("a")
    h.now[0] = 0.05
    wait_until(lambda: h.batches() == [["a"]])
    h.call("b", "c")  # due at 0.10, queued behind the one slot
    h.now[0] = 0.07
    h.answer(0)  # the slot is free, but b has lingered only 0.02
    assert h.batches() == [["a"]]
    h.call("d")
    h.now[0] = 0.10
    wait_until(lambda: h.batches() == [["a"], ["b", "c", "d"]])
    h.call("e")  # the slot is taken again; e is due at 0.15
    h.now[0] = 0.2
    wait_until(lambda: h.coalescer.queued() == 1)
    assert h.batches() == [["a"], ["b", "c", "d"]]  # due, but no slot: it waits for one
    h.answer(1)  # that completion sends e
    wait_until(lambda: h.batches() == [["a"], ["b", "c", "d"], ["e"]])
    h.answer(2)
    h.join()
    assert h.outcomes == {r: r.upper() for r in "abcde"}


def test_no_linger_sends_at_once_while_a_slot_is_free() -> None:
    h = _Harness(linger_s=0.0, max_outstanding=2)
    h.call("a", "b", "c")
    assert h.batches() == [["a"], ["b"]]
    h.answer(0)
    wait_until(lambda: h.batches() == [["a"], ["b"], ["c"]])
    h.answer(1)
    h.answer(2)
    h.join()
    assert h.outcomes == {"a": "A", "b": "B", "c": "C"}
