"""Forwarding envelopes to the Raft leader: `Forwarder`, one long-lived
`Cluster.SubmitStream` per remote orderer, and `ForwardFuture`, one envelope's answer.

A follower hands each Broadcast envelope to the leader (`GrpcClusterTransport.forward`
/ `forward_async`). The stream is opened on first use and reopened after it breaks.
A sending turn takes everything queued and sends one `SubmitBatchRequest` per run of
one (channel, sender); the leader answers each request with one status per envelope,
in order, so concurrent Broadcast streams (and a pipelined one) share messages. Each
envelope has its own deadline: unanswered by then, or on a broken stream, it is
SERVICE_UNAVAILABLE (the client resubmits).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import grpc

from orderer.cluster import ForwardResult
from protos.common import common_pb2
from protos.scf import cluster_pb2

__all__ = ["ForwardFuture", "Forwarder"]

log = logging.getLogger("orderer.cluster")

_STARTING = object()
"""`Forwarder._call` while a stream is being opened."""


class ForwardFuture:
    """The leader's answer to one forwarded envelope, once it comes.

    `result()` blocks until the answer or the envelope's deadline (then
    SERVICE_UNAVAILABLE); the first outcome wins.
    """

    __slots__ = ("_deadline", "_event", "_result")

    def __init__(self, deadline: float, result: ForwardResult | None = None) -> None:
        self._deadline = deadline
        self._event = threading.Event()
        self._result = result
        if result is not None:
            self._event.set()

    @classmethod
    def done(cls, result: ForwardResult) -> ForwardFuture:
        return cls(0.0, result)

    def set(self, result: ForwardResult) -> None:
        if not self._event.is_set():
            self._result = result
            self._event.set()

    def result(self) -> ForwardResult:
        if not self._event.wait(max(self._deadline - time.monotonic(), 0.0)):
            self.set(ForwardResult(common_pb2.SERVICE_UNAVAILABLE, "forwarding timed out"))
        result = self._result
        assert result is not None
        return result


def _unavailable(futures: Iterable[ForwardFuture], info: str) -> None:
    result = ForwardResult(common_pb2.SERVICE_UNAVAILABLE, info)
    for future in futures:
        future.set(result)


class Forwarder:
    """The forwarding stream to one remote orderer (see the module docstring);
    `stub` gives the `Cluster` stub of the orderer's gRPC channel.

    `_queue` holds what is not sent yet; `_inflight` one list of futures per request
    sent, answered in order. A stream generation that ended stands down.
    """

    def __init__(
        self, address: str, stub: Callable[[], Any], max_batch_bytes: int, max_envelopes: int
    ) -> None:
        self._address = address
        self._stub = stub
        self._max_batch_bytes = max_batch_bytes
        self._max_envelopes = max_envelopes
        self._cond = threading.Condition()
        self._queue: collections.deque[tuple[str, int, bytes, ForwardFuture]] = collections.deque()
        self._inflight: collections.deque[list[ForwardFuture]] = collections.deque()
        self._generation = 0
        self._call: Any = None
        self._closed = False

    def submit(self, channel: str, sender: int, envelope: bytes, future: ForwardFuture) -> None:
        start: int | None = None
        with self._cond:
            if self._closed:
                start = -1
            else:
                self._queue.append((channel, sender, envelope, future))
                if self._call is None:
                    self._generation += 1
                    start = self._generation
                    self._call = _STARTING
                self._cond.notify_all()
        if start == -1:
            future.set(ForwardResult(common_pb2.SERVICE_UNAVAILABLE, "transport closed"))
        elif start is not None:
            self._start(start)

    def _start(self, generation: int) -> None:
        try:
            call = self._stub().SubmitStream(self._requests(generation))
        except Exception as exc:  # no channel (closing): fail what waits
            self._end(generation, f"cannot open the forwarding stream: {exc}")
            return
        with self._cond:
            current = generation == self._generation and not self._closed
            if current:
                self._call = call
        if not current:
            call.cancel()
            return
        threading.Thread(
            target=self._responses,
            args=(generation, call),
            name=f"cluster-forward-{self._address}",
            daemon=True,
        ).start()

    def _requests(self, generation: int) -> Iterator[cluster_pb2.SubmitBatchRequest]:
        limit_bytes = self._max_batch_bytes
        limit_count = self._max_envelopes
        while True:
            with self._cond:
                while not self._queue and generation == self._generation:
                    self._cond.wait()
                if generation != self._generation:
                    return
                channel, sender, _, _ = self._queue[0]
                envelopes: list[bytes] = []
                futures: list[ForwardFuture] = []
                size = 0
                while self._queue and len(envelopes) < limit_count and size < limit_bytes:
                    head = self._queue[0]
                    if head[0] != channel or head[1] != sender:
                        break
                    self._queue.popleft()
                    envelopes.append(head[2])
                    futures.append(head[3])
                    size += len(head[2])
                self._inflight.append(futures)
            yield cluster_pb2.SubmitBatchRequest(
                channel=channel, envelopes=envelopes, sender=sender
            )

    def _responses(self, generation: int, call: Any) -> None:
        reason = "forwarding stream ended"
        try:
            for response in call:
                with self._cond:
                    if generation != self._generation or not self._inflight:
                        break
                    futures = self._inflight.popleft()
                results = response.results
                for i, future in enumerate(futures):
                    if i < len(results):
                        future.set(ForwardResult(results[i].status, results[i].info))
                    else:
                        future.set(
                            ForwardResult(common_pb2.SERVICE_UNAVAILABLE, "no answer from leader")
                        )
        except grpc.RpcError as err:
            code = err.code().name if isinstance(err, grpc.Call) else "UNKNOWN"
            details = err.details() if isinstance(err, grpc.Call) else str(err)
            reason = f"forwarding to {self._address} failed: {code}: {details}"
        except Exception as exc:
            reason = f"forwarding to {self._address} failed: {exc}"
        self._end(generation, reason)

    def _end(self, generation: int, reason: str) -> None:
        """The stream `generation` is over: everything sent or queued on it fails (the
        client resubmits); the next `submit` opens a new stream."""
        with self._cond:
            if generation != self._generation:
                return
            self._generation += 1
            call, self._call = self._call, None
            failed = [f for batch in self._inflight for f in batch]
            failed.extend(item[3] for item in self._queue)
            self._inflight.clear()
            self._queue.clear()
            self._cond.notify_all()
        if call is not None and call is not _STARTING:
            call.cancel()
        if failed:
            log.warning("cluster: %s (%d envelopes unanswered)", reason, len(failed))
            _unavailable(failed, reason)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            generation = self._generation
        self._end(generation, "transport closed")
