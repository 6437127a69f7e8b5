"""gRPC implementations of the gateway's client Protocols, over channels the node
owns (pooled by address, mutual TLS), and a helper to list a channel's endorsers.

The node builds these from its channel pool:

    CoalescingEndorserClient(pool.channel(address))   # batches; unary if the peer can't
    GrpcBroadcastClient(pool.channel(address))

None creates a channel or TLS material, and none closes the channel it was given
(the pool owns it); `GrpcBroadcastClient.close` only ends its stream.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

import grpc

from common.config.channel import ChannelConfig
from common.errors import ScfError
from peer.endorser.batch import MAX_PROPOSALS_PER_BATCH
from peer.endorser.endorser import MIN_HEIGHT_METADATA
from peer.gateway.support import RemotePeer
from protos.common import common_pb2
from protos.orderer import ab_pb2, ab_pb2_grpc
from protos.peer import peer_pb2_grpc, proposal_pb2, proposal_response_pb2
from protos.scf import batch_pb2, batch_pb2_grpc

__all__ = [
    "CoalescingEndorserClient",
    "EndorseBatchError",
    "GrpcBroadcastClient",
    "GrpcEndorserClient",
    "endorsing_peers_from_config",
]

log = logging.getLogger(__name__)

DEFAULT_ENDORSE_TIMEOUT = 30.0
"""Seconds a remote ProcessProposal may take (Fabric's gateway endorsementTimeout)."""
DEFAULT_BROADCAST_TIMEOUT = 30.0
"""Seconds to wait for an orderer's answer to one envelope (Fabric's broadcastTimeout)."""
DEFAULT_MAX_OUTSTANDING_BATCHES = 2
"""ProcessProposals calls in flight per remote peer; further proposals queue."""
DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024
"""Serialized proposals per batch, well under the servers' 16 MiB receive limit (a
larger proposal goes alone)."""
_DEADLINE_GRACE_S = 1.0
"""How long past its deadline a call whose batch is in flight waits for gRPC's
own DEADLINE_EXCEEDED before giving up on its own."""


def endorsing_peers_from_config(
    config: ChannelConfig, *, exclude: Collection[str] = ()
) -> list[RemotePeer]:
    """The channel config's endorsing peers (`application_orgs[*].peers` with
    `endorser=True`) in config order, without those whose address is in `exclude`
    (the local peer's own address(es))."""
    return [
        RemotePeer(org.mspid, peer.address)
        for org in config.application_orgs
        for peer in org.peers
        if peer.endorser and peer.address not in exclude
    ]


class GrpcEndorserClient:
    """`EndorserClient` over a gRPC channel: one unary ProcessProposal per call,
    with a deadline. Transport errors raise `grpc.RpcError`."""

    def __init__(self, channel: grpc.Channel, *, timeout: float = DEFAULT_ENDORSE_TIMEOUT) -> None:
        self._stub = peer_pb2_grpc.EndorserStub(channel)  # type: ignore[no-untyped-call]
        self._timeout = timeout

    def process_proposal(
        self, signed: proposal_pb2.SignedProposal, /, min_height: int = 0
    ) -> proposal_response_pb2.ProposalResponse:
        """`min_height` travels as call metadata (see `MIN_HEIGHT_METADATA`)."""
        metadata = ((MIN_HEIGHT_METADATA, str(min_height)),) if min_height > 0 else None
        response: proposal_response_pb2.ProposalResponse = self._stub.ProcessProposal(
            signed, timeout=self._timeout, metadata=metadata
        )
        return response


class EndorseBatchError(ScfError):
    """A proposal sent through `CoalescingEndorserClient` got no usable answer:
    `ENDORSE_TIMEOUT` (no answer within the deadline) or `BAD_BATCH_REPLY` (the
    peer answered a batch with the wrong number of responses)."""

    code = "ENDORSE_BATCH_FAILED"


class _UseUnary(Exception):
    """The peer has no `scf.EndorserBatch` service: the caller sends its proposal
    as a unary ProcessProposal instead (from its own thread, not gRPC's)."""


@dataclass(eq=False)
class _Item:
    """One caller's proposal, queued or in a batch; `answer` resolves it."""

    signed: proposal_pb2.SignedProposal
    min_height: int
    deadline: float
    size: int
    answer: Future[proposal_response_pb2.ProposalResponse] = field(default_factory=Future)


class CoalescingEndorserClient:
    """`EndorserClient` that coalesces concurrent calls to one peer into
    `scf.EndorserBatch/ProcessProposals` batches, with no timer.

    Contract:

    * At most `max_outstanding` batch calls are in flight. A call made while fewer
      are goes out at once (a batch of whatever is queued, itself included); a
      call made while all are in flight queues, and when a batch completes
      everything queued goes out as the next batch (in arrival order, cut at
      `max_batch` proposals or `max_batch_bytes`). So a lone caller pays no added
      latency, and concurrent callers share one call's CPU cost.
    * Each call answers with its own proposal's response, or raises: the batch's
      `grpc.RpcError` when the batch call failed (every item of that batch fails
      with it; the gateway then tries another peer), `EndorseBatchError` when no
      answer came within `timeout` seconds of the call (queueing included) or the
      reply was malformed.
    * A batch carries the largest `min_height` of its items (the endorser waits
      for that height, briefly, before simulating; see `peer.endorser.batch`).
    * A peer answering UNIMPLEMENTED (a Fabric peer, an older scfchain peer) turns
      this client permanently into a `GrpcEndorserClient`; the items that got that
      answer are re-sent as unary calls.

    Thread-safe. No threads of its own: batches are started by the calling thread
    or by gRPC's completion callback, and callers resolve their own answers.
    `address` names the peer in log messages only.
    """

    def __init__(
        self,
        channel: grpc.Channel,
        *,
        timeout: float = DEFAULT_ENDORSE_TIMEOUT,
        max_outstanding: int = DEFAULT_MAX_OUTSTANDING_BATCHES,
        max_batch: int = MAX_PROPOSALS_PER_BATCH,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        clock: Callable[[], float] = time.monotonic,
        address: str = "",
    ) -> None:
        if min(max_outstanding, max_batch, max_batch_bytes) < 1:
            raise ValueError("max_outstanding, max_batch and max_batch_bytes must be >= 1")
        stub = batch_pb2_grpc.EndorserBatchStub(channel)  # type: ignore[no-untyped-call]
        self._process: grpc.UnaryUnaryMultiCallable[
            batch_pb2.ProposalBatch, batch_pb2.ProposalResponseBatch
        ] = stub.ProcessProposals
        self._unary = GrpcEndorserClient(channel, timeout=timeout)
        self._timeout = timeout
        self._max_outstanding = max_outstanding
        self._max_batch = max_batch
        self._max_batch_bytes = max_batch_bytes
        self._clock = clock
        self._address = address or "(unnamed)"
        self._lock = threading.Lock()
        self._queue: collections.deque[_Item] = collections.deque()
        self._outstanding = 0
        self._unary_only = False

    @property
    def batching(self) -> bool:
        """False once the peer answered UNIMPLEMENTED (all calls are unary then)."""
        with self._lock:
            return not self._unary_only

    def queued(self) -> int:
        """Proposals waiting for a free batch slot (observability and tests)."""
        with self._lock:
            return len(self._queue)

    def process_proposal(
        self, signed: proposal_pb2.SignedProposal, /, min_height: int = 0
    ) -> proposal_response_pb2.ProposalResponse:
        item = _Item(signed, min_height, self._clock() + self._timeout, signed.ByteSize())
        with self._lock:
            unary = self._unary_only
            if not unary:
                self._queue.append(item)
            batch = self._take() if not unary and self._outstanding < self._max_outstanding else []
        if unary:
            return self._unary.process_proposal(signed, min_height)
        if batch:
            self._call(batch)  # answers `item` too
        try:
            return self._await(item)
        except _UseUnary:
            return self._unary.process_proposal(signed, min_height)

    def _await(self, item: _Item) -> proposal_response_pb2.ProposalResponse:
        try:
            return item.answer.result(timeout=self._timeout)
        except FutureTimeout:
            in_flight = not item.answer.cancel()  # cancelled: it will never be sent
        if in_flight:
            # Its batch call's deadline is no earlier than this call's: gRPC ends it
            # in a moment with DEADLINE_EXCEEDED, the error the unary client gives.
            try:
                return item.answer.result(timeout=_DEADLINE_GRACE_S)
            except FutureTimeout:
                pass
        raise EndorseBatchError(
            f"no answer from the endorser within {self._timeout:g}s", code="ENDORSE_TIMEOUT"
        )

    def _take(self) -> list[_Item]:
        """The next batch from the queue's head, counted as outstanding; empty when
        nothing is queued. Call with `_lock` held."""
        batch: list[_Item] = []
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

    def _call(self, batch: list[_Item]) -> None:
        """Send `batch` as a blocking call from the calling thread and settle it.

        A caller that finds a free slot sends this way: gRPC then polls for the
        reply on the caller's own thread, where a future would wake the channel's
        spin thread (which gRPC starts anew whenever no call was in flight, costing
        a lone caller more CPU than a unary call)."""
        request, timeout = self._request(batch)
        try:
            reply = self._process(request, timeout=timeout)
        except Exception as exc:  # grpc.RpcError, or e.g. ValueError: channel closed
            self._settle(batch, None, exc)
            return
        self._settle(batch, reply, None)

    def _send(self, batch: list[_Item]) -> None:
        """Start `batch` as a future call (no thread waits for it); its callback
        settles it. For batches started as another completes. Call without `_lock`
        held (a call that is already done runs the callback here)."""
        request, timeout = self._request(batch)
        try:
            call = self._process.future(request, timeout=timeout)
        except Exception as exc:  # e.g. the channel is closed
            self._settle(batch, None, exc)
            return
        call.add_done_callback(lambda done: self._on_reply(batch, done))

    def _request(self, batch: list[_Item]) -> tuple[batch_pb2.ProposalBatch, float]:
        """The batch call's request and timeout: the latest deadline of its items
        (no caller waits longer than its own anyway)."""
        request = batch_pb2.ProposalBatch(
            proposals=[item.signed for item in batch],
            min_ledger_height=max(item.min_height for item in batch),
        )
        return request, max(max(item.deadline for item in batch) - self._clock(), 0.001)

    def _on_reply(
        self, batch: list[_Item], call: grpc.Future[batch_pb2.ProposalResponseBatch]
    ) -> None:
        try:
            reply = call.result()
        except Exception as exc:  # grpc.RpcError, or cancelled
            self._settle(batch, None, exc)
            return
        self._settle(batch, reply, None)

    def _settle(
        self,
        batch: list[_Item],
        reply: batch_pb2.ProposalResponseBatch | None,
        error: Exception | None,
    ) -> None:
        """Answer a finished batch call: UNIMPLEMENTED → fall back to unary; a reply
        of the wrong length fails the batch like a transport error."""
        if isinstance(error, grpc.Call) and error.code() == grpc.StatusCode.UNIMPLEMENTED:
            self._fall_back(batch)
            return
        if reply is not None and len(reply.responses) != len(batch):
            error = EndorseBatchError(
                f"the endorser answered {len(reply.responses)} responses to a batch of "
                f"{len(batch)} proposals",
                code="BAD_BATCH_REPLY",
            )
            reply = None
        self._done(batch, reply, error)

    def _done(
        self,
        batch: list[_Item],
        reply: batch_pb2.ProposalResponseBatch | None,
        error: BaseException | None,
    ) -> None:
        """Send the next batch first (keeping the peer busy), then answer the items."""
        with self._lock:
            self._outstanding -= 1
            following = self._take()
        if following:
            self._send(following)
        if reply is not None:
            for item, response in zip(batch, reply.responses, strict=True):
                item.answer.set_result(response)
        else:
            assert error is not None
            for item in batch:
                item.answer.set_exception(error)

    def _fall_back(self, batch: list[_Item]) -> None:
        """The peer has no batch service: every item in this batch or queued goes
        back to its caller to be sent as a unary call, and so will every later one."""
        with self._lock:
            first = not self._unary_only
            self._unary_only = True
            self._outstanding -= 1
            queued = [i for i in self._queue if i.answer.set_running_or_notify_cancel()]
            self._queue.clear()
        if first:
            log.info(
                "endorser %s has no scf.EndorserBatch service; using unary ProcessProposal",
                self._address,
            )
        for item in (*batch, *queued):
            item.answer.set_exception(_UseUnary())


class _StreamEnded(ConnectionError):
    """The Broadcast stream ended before answering an envelope."""


class _Stream:
    """One open Broadcast stream: a request queue feeding gRPC, and a reader thread
    handing each response to the caller whose envelope it answers (the orderer
    answers a stream's envelopes in order, so callers wait in a FIFO)."""

    def __init__(self, stub: ab_pb2_grpc.AtomicBroadcastStub) -> None:
        self.requests: queue.SimpleQueue[common_pb2.Envelope | None] = queue.SimpleQueue()
        self._mutex = threading.Lock()
        self._waiting: collections.deque[Future[ab_pb2.BroadcastResponse]] = collections.deque()
        self._failed = False
        self.call: Any = stub.Broadcast(self._generate())
        self._reader: threading.Thread | None = None  # started with the first envelope

    def _generate(self) -> Iterator[common_pb2.Envelope]:
        while True:
            envelope = self.requests.get()
            if envelope is None:  # close(): end the request side of the stream
                return
            yield envelope

    def _read(self) -> None:
        error: BaseException
        try:
            for response in self.call:
                with self._mutex:
                    waiter = self._waiting.popleft() if self._waiting else None
                if waiter is None:
                    error = _StreamEnded("orderer sent an unrequested broadcast response")
                    break
                waiter.set_result(response)
            else:
                error = _StreamEnded("broadcast stream ended before the orderer answered")
        except BaseException as exc:  # grpc.RpcError: the stream broke or was cancelled
            error = exc
        with self._mutex:
            self._failed = True
            waiters, self._waiting = list(self._waiting), collections.deque()
        for waiter in waiters:
            waiter.set_exception(error)
        self.call.cancel()

    def send(self, envelope: common_pb2.Envelope) -> Future[ab_pb2.BroadcastResponse] | None:
        """Queue `envelope`; its answer arrives on the returned future (None when the
        stream has already failed, never for the first envelope of a stream)."""
        waiter: Future[ab_pb2.BroadcastResponse] = Future()
        with self._mutex:
            if self._failed:
                return None
            self._waiting.append(waiter)
            self.requests.put(envelope)
            if self._reader is None:
                self._reader = threading.Thread(
                    target=self._read, name="gateway-broadcast", daemon=True
                )
                self._reader.start()
        return waiter

    def alive(self) -> bool:
        with self._mutex:
            failed = self._failed
        return not failed and not self.call.done()

    def close(self) -> None:
        self.requests.put(None)
        self.call.cancel()


class GrpcBroadcastClient:
    """`BroadcastClient` keeping one Broadcast stream open to one orderer.

    Concurrent calls are pipelined on that stream, as Fabric's gateway sends
    concurrent submits on their own streams: the orderer admits each envelope as it
    arrives and answers them in order (an orderer that acknowledges on commit answers
    once the block is cut, so waiting for one answer before sending the next envelope
    would put every transaction through one gateway into a block of its own). A
    stream that failed or timed out is dropped, failing every call waiting on it, and
    the next call opens a new one (an envelope is never re-sent by this client: the
    gateway decides whether to try another orderer).
    """

    def __init__(
        self, channel: grpc.Channel, *, timeout: float = DEFAULT_BROADCAST_TIMEOUT
    ) -> None:
        self._stub = ab_pb2_grpc.AtomicBroadcastStub(channel)  # type: ignore[no-untyped-call]
        self._timeout = timeout
        self._lock = threading.Lock()
        self._stream: _Stream | None = None

    def broadcast(self, envelope: common_pb2.Envelope, /) -> ab_pb2.BroadcastResponse:
        with self._lock:
            stream = self._stream
            waiter = stream.send(envelope) if stream is not None and stream.alive() else None
            if stream is None or waiter is None:
                if stream is not None:
                    stream.close()  # releases gRPC's thread blocked reading our queue
                stream = self._stream = _Stream(self._stub)
                waiter = stream.send(envelope)
                assert waiter is not None  # a new stream has not failed yet
        try:
            try:
                return waiter.result(timeout=self._timeout)
            except FutureTimeout:
                # The orderer stayed silent: cancel the call, which fails the waiters
                # with the RpcError gRPC reports.
                stream.call.cancel()
                return waiter.result(timeout=self._timeout)
        except BaseException:
            stream.close()
            with self._lock:
                if self._stream is stream:
                    self._stream = None
            raise

    def close(self) -> None:
        """End the open stream, if any (the channel stays open)."""
        with self._lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None
