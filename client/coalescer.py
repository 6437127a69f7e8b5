"""`Coalescer`: concurrent calls of one kind carried by few batch calls, no thread.

Contract (per connection and kind, e.g. Endorse):

* At most `max_outstanding` batch calls are in flight. A batch goes out when a slot is
  free and its oldest item has waited `linger_s` (or `max_batch` items are queued);
  everything queued then (up to `max_batch` items) goes in it. With `linger_s` = 0 a
  call that finds room goes out at once as a batch of one (no added latency) and load
  alone decides the batch size; a linger trades that much latency for fewer, larger
  batches at moderate load, where every batch's fixed cost would otherwise be paid
  by one or two items.
* Each item's outcome is its response or a `CallFailure` meaning exactly what the single
  call's gRPC error would have meant; a batch call that fails as a whole (unreachable
  peer, deadline) fails each of its items the same way.
* A batch call answered UNIMPLEMENTED (a peer without the batch service, e.g. Fabric's)
  sets `unsupported`, shared by the connection's coalescers: from then on — including
  the items of that batch and the queued ones — `call` returns None, telling the
  caller to make the standard unary call itself.
* A batch's deadline is the earliest deadline of its items; an item whose deadline has
  passed while it queued fails with DEADLINE_EXCEEDED without being sent.

Batch calls are `stub.Method.future(...)`; their completion callbacks (run by gRPC's
channel thread, or by the caller when the call failed at once) hand out the outcomes
and send the next batch; a batch whose linger ends while a slot is free is sent by
the caller of its oldest item, waking for it. So there is no thread of our own.
The lock is never held while gRPC is called, as a callback may run on the calling
thread.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import grpc

from client.errors import CallFailure

__all__ = ["Coalescer", "coalesced"]

Req = TypeVar("Req")
Resp = TypeVar("Resp")

StartBatch = Callable[[list[Req], float | None], Any]
"""`start(requests, timeout)`: the batch call as a `grpc.Future` of its reply."""

SplitReply = Callable[[Any], Sequence[Resp | CallFailure]]
"""The per-item outcomes of a batch reply, in request order."""


class _Item(Generic[Req, Resp]):
    __slots__ = ("deadline", "done", "due", "outcome", "request")

    def __init__(self, request: Req, deadline: float | None, due: float) -> None:
        self.request = request
        self.deadline = deadline
        self.due = due
        """When its linger ends: from then on it goes in the next batch with a slot."""
        self.done = threading.Event()
        self.outcome: Resp | CallFailure | None = None

    def finish(self, outcome: Resp | CallFailure | None) -> None:
        self.outcome = outcome
        self.done.set()


class Coalescer(Generic[Req, Resp]):
    """Batch calls for one kind of request on one connection (module docstring)."""

    def __init__(
        self,
        start: StartBatch[Req],
        split: SplitReply[Resp],
        *,
        unsupported: threading.Event,
        max_outstanding: int = 2,
        max_batch: int = 256,
        linger_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_outstanding < 1 or max_batch < 1:
            raise ValueError("max_outstanding and max_batch must be >= 1")
        if linger_s < 0:
            raise ValueError("linger_s must be >= 0")
        self._start = start
        self._split = split
        self._unsupported = unsupported
        self._max_outstanding = max_outstanding
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._clock = clock
        self._lock = threading.Lock()
        self._queue: deque[_Item[Req, Resp]] = deque()
        self._outstanding = 0
        self._closed = False
        self.batches_sent = 0
        """Batch calls started (for tests and diagnostics)."""

    def call(self, request: Req, timeout: float | None) -> Resp | CallFailure | None:
        """The outcome of `request` sent in a batch, waiting for it; None when the peer
        has no batch service or the coalescer is closed (make the unary call)."""
        if self._unsupported.is_set():
            return None
        now = self._clock()
        deadline = None if timeout is None else now + timeout
        item: _Item[Req, Resp] = _Item(request, deadline, now + self._linger_s)
        with self._lock:
            if self._closed:
                return None
            self._queue.append(item)
            batch = self._take_locked()
        if batch:
            self._dispatch(batch)
        wait: float | None = self._linger_s or None
        while not item.done.wait(wait):
            # The item's linger ended (by `clock`) with the item still queued: a batch
            # due while a slot is free goes out only if a caller sends it.
            with self._lock:
                batch = self._take_locked()
            if batch:
                self._dispatch(batch)
            remaining = item.due - self._clock()
            wait = remaining if remaining > 0 else None
        return item.outcome

    def queued(self) -> int:
        """Calls waiting for their linger or a free slot."""
        with self._lock:
            return len(self._queue)

    def close(self) -> None:
        """Release the queued callers to the unary path (which then meets the closed
        channel); batches in flight end when gRPC cancels them."""
        with self._lock:
            self._closed = True
            queued = list(self._queue)
            self._queue.clear()
        for item in queued:
            item.finish(None)

    # ------------------------------------------------------------------ internals

    def _take_locked(self) -> list[_Item[Req, Resp]]:
        """The next batch if one is due and a slot is free (taking the slot), else []."""
        if self._unsupported.is_set():
            released = list(self._queue)
            self._queue.clear()
            for item in released:  # Event.set only: safe under our lock
                item.finish(None)
            return []
        if not self._queue or self._outstanding >= self._max_outstanding:
            return []
        lingering = self._linger_s and len(self._queue) < self._max_batch
        if lingering and self._queue[0].due > self._clock():
            return []
        count = min(len(self._queue), self._max_batch)
        batch = [self._queue.popleft() for _ in range(count)]
        self._outstanding += 1
        return batch

    def _dispatch(self, batch: list[_Item[Req, Resp]]) -> None:
        """Send `batch` (holding a slot); a batch that could not be sent gives its slot
        to the next one, in a loop rather than by recursion."""
        while batch:
            started = self._send(batch)
            if started is not None:
                future, live = started
                future.add_done_callback(functools.partial(self._completed, live))
                return
            with self._lock:
                self._outstanding -= 1
                batch = self._take_locked()

    def _send(self, batch: list[_Item[Req, Resp]]) -> tuple[Any, list[_Item[Req, Resp]]] | None:
        """Start the batch call for the items still in time: (its future, those items),
        or None if nothing was sent (every item is then finished)."""
        now = self._clock()
        live: list[_Item[Req, Resp]] = []
        for item in batch:
            if item.deadline is not None and item.deadline <= now:
                item.finish(CallFailure(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))
            else:
                live.append(item)
        if not live:
            return None
        deadlines = [i.deadline for i in live if i.deadline is not None]
        timeout = min(deadlines) - now if deadlines else None
        try:
            future = self._start([i.request for i in live], timeout)
        except Exception:  # e.g. the channel was closed: the unary path reports it
            for item in live:
                item.finish(None)
            return None
        with self._lock:
            self.batches_sent += 1
        return future, live

    def _completed(self, batch: list[_Item[Req, Resp]], future: Any) -> None:
        try:
            self._hand_out(batch, future)
        finally:
            with self._lock:
                self._outstanding -= 1
                following = self._take_locked()
            if following:
                self._dispatch(following)

    def _hand_out(self, batch: list[_Item[Req, Resp]], future: Any) -> None:
        try:
            reply = future.result()
        except grpc.RpcError as exc:
            failure = CallFailure.of_rpc(exc)
            if failure.grpc_code == grpc.StatusCode.UNIMPLEMENTED:
                self._unsupported.set()
                for item in batch:
                    item.finish(None)
                return
            for item in batch:
                item.finish(failure)
            return
        except grpc.FutureCancelledError:
            for item in batch:
                item.finish(CallFailure(grpc.StatusCode.CANCELLED, "Cancelled"))
            return
        try:
            outcomes = self._split(reply)
        except Exception as exc:  # a malformed reply fails its items, not the thread
            outcomes = []
            problem = f"malformed batch reply: {exc}"
        else:
            problem = f"the batch reply has {len(outcomes)} outcomes for {len(batch)} requests"
        if len(outcomes) != len(batch):
            for item in batch:
                item.finish(CallFailure(grpc.StatusCode.INTERNAL, problem))
            return
        for item, outcome in zip(batch, outcomes, strict=True):
            item.finish(outcome)


def coalesced(
    coalescer: Coalescer[Req, Resp] | None,
    unary: Callable[..., Resp],
    request: Req,
    timeout: float | None,
) -> Resp | CallFailure:
    """`request`'s outcome: through `coalescer` when there is one and the peer has the
    batch service, else by the unary call `unary(request, timeout=...)`. A failure is
    returned, not raised, so the caller builds its stage's error the same way for both
    paths (`GatewayError.from_failure`)."""
    if coalescer is not None:
        outcome = coalescer.call(request, timeout)
        if outcome is not None:
            return outcome
    try:
        return unary(request, timeout=timeout)
    except grpc.RpcError as exc:
        return CallFailure.of_rpc(exc)
