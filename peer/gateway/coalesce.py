"""Coalescing concurrent calls to one remote node into batch calls, with no timer.

gRPC-Python spends ≈ 0.75 ms of CPU per unary call (and ≈ 0.25 ms per stream
message) at each end; our batch services (protos/scf/batch.proto) carry many items
per call. `Coalescer` is the client side of the gateway's endorser client
(`peer.gateway.clients`): it turns concurrent single calls into batch calls and
back, and falls back to the single call for a node without the batch service.
What differs per RPC (the request, the reply's items, the single call, the error)
is a `BatchRpc`.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import grpc

from common.errors import ScfError

__all__ = ["DEFAULT_MAX_BATCH_BYTES", "BatchRpc", "Coalescer"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024
"""Serialized items per batch, well under the servers' 16 MiB receive limit (a
larger item goes alone)."""
_DEADLINE_GRACE_S = 1.0
"""How long past its deadline a call whose batch is in flight waits for gRPC's
own DEADLINE_EXCEEDED before giving up on its own."""

Q = TypeVar("Q")
"""One caller's request."""
R = TypeVar("R")
"""Its response."""
BQ = TypeVar("BQ")
"""The batch call's request message."""
BR = TypeVar("BR")
"""The batch call's reply message."""


@dataclass(frozen=True)
class BatchRpc(Generic[Q, R, BQ, BR]):
    """One batch RPC and its single-call twin, as a `Coalescer` uses them."""

    method: grpc.UnaryUnaryMultiCallable[BQ, BR]
    request: Callable[[list[Q]], BQ]
    """The batch call's request carrying these items, in order."""
    responses: Callable[[BR], Sequence[R]]
    """The reply's responses, one per item in request order."""
    single: Callable[[Q], R]
    """One item as the standard call, from the caller's thread (the fallback)."""
    error: type[ScfError]
    """Raised with code `timeout_code` or BAD_BATCH_REPLY (see `Coalescer`)."""
    timeout_code: str
    node: str
    """What the remote node is, for messages: "endorser", "orderer"."""
    service: str
    """The batch service's full name, for the fallback's log line."""


class _UseSingle(Exception):
    """The node has no batch service: the caller sends its item as a single call
    instead (from its own thread, not gRPC's)."""


@dataclass(eq=False)
class _Item(Generic[Q, R]):
    """One caller's request, queued or in a batch; `answer` resolves it."""

    request: Q
    deadline: float
    size: int
    answer: Future[R] = field(default_factory=Future)


class Coalescer(Generic[Q, R, BQ, BR]):
    """Coalesces concurrent `call`s to one node into `rpc.method` batch calls.

    Contract:

    * At most `max_outstanding` batch calls are in flight. A call made while fewer
      are goes out at once (a batch of whatever is queued, itself included); a
      call made while all are in flight queues, and when a batch completes
      everything queued goes out as the next batch (in arrival order, cut at
      `max_batch` items or `max_batch_bytes`). So a lone caller pays no added
      latency, and concurrent callers share one call's CPU cost.
    * Each call answers with its own item's response, or raises: the batch's
      `grpc.RpcError` when the batch call failed (every item of that batch fails
      with it and no other), `rpc.error` when no answer came within `timeout`
      seconds of the call (queueing included; code `rpc.timeout_code`) or the reply
      had the wrong number of responses (code BAD_BATCH_REPLY).
    * A batch call's deadline is the latest of its items' deadlines.
    * A node answering UNIMPLEMENTED (a Fabric node, an older scfchain node) turns
      this coalescer permanently into `rpc.single`; the items that got that answer
      or were queued are sent through `rpc.single` by their callers.

    Thread-safe. No threads of its own: batches are started by the calling thread
    or by gRPC's completion callback, and callers resolve their own answers.
    `address` names the node in log messages only.
    """

    def __init__(
        self,
        rpc: BatchRpc[Q, R, BQ, BR],
        *,
        timeout: float,
        max_outstanding: int,
        max_batch: int,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        clock: Callable[[], float] = time.monotonic,
        address: str = "",
    ) -> None:
        if min(max_outstanding, max_batch, max_batch_bytes) < 1:
            raise ValueError("max_outstanding, max_batch and max_batch_bytes must be >= 1")
        self._rpc = rpc
        self._timeout = timeout
        self._max_outstanding = max_outstanding
        self._max_batch = max_batch
        self._max_batch_bytes = max_batch_bytes
        self._clock = clock
        self._address = address or "(unnamed)"
        self._lock = threading.Lock()
        self._queue: collections.deque[_Item[Q, R]] = collections.deque()
        self._outstanding = 0
        self._single_only = False

    @property
    def batching(self) -> bool:
        """False once the node answered UNIMPLEMENTED (all calls are single then)."""
        with self._lock:
            return not self._single_only

    def queued(self) -> int:
        """Items waiting for a free batch slot (observability and tests)."""
        with self._lock:
            return len(self._queue)

    def call(self, request: Q, size: int) -> R:
        """`request`'s response (contract above); `size` is its serialized size."""
        item: _Item[Q, R] = _Item(request, self._clock() + self._timeout, size)
        with self._lock:
            single = self._single_only
            if not single:
                self._queue.append(item)
            free = not single and self._outstanding < self._max_outstanding
            batch = self._take() if free else []
        if single:
            return self._rpc.single(request)
        if batch:
            self._call(batch)  # answers `item` too
        try:
            return self._await(item)
        except _UseSingle:
            return self._rpc.single(request)

    def _await(self, item: _Item[Q, R]) -> R:
        try:
            return item.answer.result(timeout=self._timeout)
        except FutureTimeout:
            in_flight = not item.answer.cancel()  # cancelled: it will never be sent
        if in_flight:
            # Its batch call's deadline is no earlier than this call's: gRPC ends it
            # in a moment with DEADLINE_EXCEEDED, the error the single call gives.
            try:
                return item.answer.result(timeout=_DEADLINE_GRACE_S)
            except FutureTimeout:
                pass
        raise self._rpc.error(
            f"no answer from the {self._rpc.node} within {self._timeout:g}s",
            code=self._rpc.timeout_code,
        )

    def _take(self) -> list[_Item[Q, R]]:
        """The next batch from the queue's head, counted as outstanding; empty when
        nothing is queued. Call with `_lock` held."""
        batch: list[_Item[Q, R]] = []
        size = 0
        while self._queue and len(batch) < self._max_batch:
            item = self._queue[0]
            if batch and size + item.size > self._max_batch_bytes:
                break
            self._queue.popleft()
            if item.answer.set_running_or_notify_cancel():  # False: its caller gave up
                batch.append(item)
                size += item.size
        if batch:
            self._outstanding += 1
        return batch

    def _call(self, batch: list[_Item[Q, R]]) -> None:
        """Send `batch` as a blocking call from the calling thread and settle it.

        A caller that finds a free slot sends this way: gRPC then polls for the
        reply on the caller's own thread, where a future would wake the channel's
        spin thread (which gRPC starts anew whenever no call was in flight, costing
        a lone caller more CPU than a single call)."""
        request, timeout = self._request(batch)
        try:
            reply = self._rpc.method(request, timeout=timeout)
        except Exception as exc:  # grpc.RpcError, or e.g. ValueError: channel closed
            self._settle(batch, None, exc)
            return
        self._settle(batch, reply, None)

    def _send(self, batch: list[_Item[Q, R]]) -> None:
        """Start `batch` as a future call (no thread waits for it); its callback
        settles it. For batches started as another completes. Call without `_lock`
        held (a call that is already done runs the callback here)."""
        request, timeout = self._request(batch)
        try:
            call = self._rpc.method.future(request, timeout=timeout)
        except Exception as exc:  # e.g. the channel is closed
            self._settle(batch, None, exc)
            return
        call.add_done_callback(lambda done: self._on_reply(batch, done))

    def _request(self, batch: list[_Item[Q, R]]) -> tuple[BQ, float]:
        """The batch call's request and timeout: the latest deadline of its items
        (no caller waits longer than its own anyway)."""
        request = self._rpc.request([item.request for item in batch])
        return request, max(max(item.deadline for item in batch) - self._clock(), 0.001)

    def _on_reply(self, batch: list[_Item[Q, R]], call: grpc.Future[BR]) -> None:
        try:
            reply = call.result()
        except Exception as exc:  # grpc.RpcError, or cancelled
            self._settle(batch, None, exc)
            return
        self._settle(batch, reply, None)

    def _settle(self, batch: list[_Item[Q, R]], reply: BR | None, error: Exception | None) -> None:
        """Answer a finished batch call: UNIMPLEMENTED → fall back to single calls;
        a reply of the wrong length fails the batch like a transport error."""
        if isinstance(error, grpc.Call) and error.code() == grpc.StatusCode.UNIMPLEMENTED:
            self._fall_back(batch)
            return
        responses = self._rpc.responses(reply) if reply is not None else None
        if responses is not None and len(responses) != len(batch):
            error = self._rpc.error(
                f"the {self._rpc.node} answered {len(responses)} responses to a batch of "
                f"{len(batch)}",
                code="BAD_BATCH_REPLY",
            )
            responses = None
        self._done(batch, responses, error)

    def _done(
        self,
        batch: list[_Item[Q, R]],
        responses: Sequence[R] | None,
        error: BaseException | None,
    ) -> None:
        """Send the next batch first (keeping the node busy), then answer the items."""
        with self._lock:
            self._outstanding -= 1
            following = self._take()
        if following:
            self._send(following)
        if responses is not None:
            for item, response in zip(batch, responses, strict=True):
                item.answer.set_result(response)
        else:
            assert error is not None
            for item in batch:
                item.answer.set_exception(error)

    def fall_back(self) -> None:
        """Turn to single calls for good, as when a batch call of this coalescer is
        answered UNIMPLEMENTED: for a batch call sent around it (same node, same
        service) that got that answer. Queued items go back to their callers."""
        self._fall_back([], in_flight=False)

    def _fall_back(self, batch: list[_Item[Q, R]], *, in_flight: bool = True) -> None:
        """The node has no batch service: every item in this batch or queued goes
        back to its caller to be sent as a single call, and so will every later one.
        `in_flight`: `batch` held one of the outstanding slots."""
        with self._lock:
            first = not self._single_only
            self._single_only = True
            if in_flight:
                self._outstanding -= 1
            queued = [i for i in self._queue if i.answer.set_running_or_notify_cancel()]
            self._queue.clear()
        if first:
            log.info(
                "%s %s has no %s service; using single calls",
                self._rpc.node,
                self._address,
                self._rpc.service,
            )
        for item in (*batch, *queued):
            item.answer.set_exception(_UseSingle())
