"""gRPC implementations of the gateway's client Protocols, over channels the node
owns (pooled by address, mutual TLS), and a helper to list a channel's endorsers.

The node builds these from its channel pool:

    CoalescingEndorserClient(pool.channel(address))   # batches; unary if the peer can't
    CoalescingBroadcastClient(pool.channel(address))  # batches; a stream if it can't

Both coalesce concurrent calls into calls of our batch services
(protos/scf/batch.proto) through one `peer.gateway.coalesce.Coalescer`.
None creates a channel or TLS material, and none closes the channel it was given
(the pool owns it); `close` only ends a client's Broadcast stream.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import grpc

from common.config.channel import ChannelConfig
from common.errors import ScfError
from common.grpclimits import MAX_BROADCAST_BATCH
from peer.endorser.batch import MAX_PROPOSALS_PER_BATCH
from peer.endorser.endorser import MIN_HEIGHT_METADATA
from peer.gateway.coalesce import DEFAULT_MAX_BATCH_BYTES, BatchRpc, Coalescer
from peer.gateway.support import RemotePeer
from protos.common import common_pb2
from protos.orderer import ab_pb2, ab_pb2_grpc
from protos.peer import peer_pb2_grpc, proposal_pb2, proposal_response_pb2
from protos.scf import batch_pb2, batch_pb2_grpc

__all__ = [
    "BroadcastBatchError",
    "CoalescingBroadcastClient",
    "CoalescingEndorserClient",
    "EndorseBatchError",
    "GrpcBroadcastClient",
    "GrpcEndorserClient",
    "endorsing_peers_from_config",
]

DEFAULT_ENDORSE_TIMEOUT = 30.0
"""Seconds a remote ProcessProposal may take (Fabric's gateway endorsementTimeout)."""
DEFAULT_BROADCAST_TIMEOUT = 30.0
"""Seconds to wait for an orderer's answer to one envelope (Fabric's broadcastTimeout)."""
DEFAULT_MAX_OUTSTANDING_BATCHES = 2
"""ProcessProposals calls in flight per remote peer; further proposals queue."""
DEFAULT_MAX_OUTSTANDING_BROADCASTS = 4
"""BroadcastEnvelopes calls in flight per orderer; further envelopes queue. An
orderer acknowledging on commit answers a batch only when its block is committed
(≈ one BatchTimeout), so these slots, not the orderer's CPU, decide how many
envelopes still reach the block being filled (see docs/protocol.md)."""


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


@dataclass(frozen=True)
class _Proposal:
    signed: proposal_pb2.SignedProposal
    min_height: int


class CoalescingEndorserClient:
    """`EndorserClient` that coalesces concurrent calls to one peer into
    `scf.EndorserBatch/ProcessProposals` batches, with no timer (`Coalescer`).

    Contract: `Coalescer`'s, with these specifics:

    * At most `max_outstanding` batch calls are in flight (they last a few ms: the
      peer simulates and answers).
    * No answer within `timeout` seconds, or a malformed reply, raises
      `EndorseBatchError` (`ENDORSE_TIMEOUT`, `BAD_BATCH_REPLY`).
    * A batch carries the largest `min_height` of its items (the endorser waits
      for that height, briefly, before simulating; see `peer.endorser.batch`).
    * A peer answering UNIMPLEMENTED (a Fabric peer, an older scfchain peer) turns
      this client permanently into a `GrpcEndorserClient`.
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
        stub = batch_pb2_grpc.EndorserBatchStub(channel)  # type: ignore[no-untyped-call]
        unary = GrpcEndorserClient(channel, timeout=timeout)
        rpc: BatchRpc[
            _Proposal,
            proposal_response_pb2.ProposalResponse,
            batch_pb2.ProposalBatch,
            batch_pb2.ProposalResponseBatch,
        ] = BatchRpc(
            method=stub.ProcessProposals,
            request=lambda items: batch_pb2.ProposalBatch(
                proposals=[p.signed for p in items],
                min_ledger_height=max(p.min_height for p in items),
            ),
            responses=lambda reply: reply.responses,
            single=lambda p: unary.process_proposal(p.signed, p.min_height),
            error=EndorseBatchError,
            timeout_code="ENDORSE_TIMEOUT",
            node="endorser",
            service="scf.EndorserBatch",
        )
        self._coalescer = Coalescer(
            rpc,
            timeout=timeout,
            max_outstanding=max_outstanding,
            max_batch=max_batch,
            max_batch_bytes=max_batch_bytes,
            clock=clock,
            address=address,
        )

    @property
    def batching(self) -> bool:
        """False once the peer answered UNIMPLEMENTED (all calls are unary then)."""
        return self._coalescer.batching

    def queued(self) -> int:
        """Proposals waiting for a free batch slot (observability and tests)."""
        return self._coalescer.queued()

    def process_proposal(
        self, signed: proposal_pb2.SignedProposal, /, min_height: int = 0
    ) -> proposal_response_pb2.ProposalResponse:
        return self._coalescer.call(_Proposal(signed, min_height), signed.ByteSize())


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


class BroadcastBatchError(ScfError):
    """An envelope sent through `CoalescingBroadcastClient` got no usable answer:
    `BROADCAST_TIMEOUT` (no answer within the deadline) or `BAD_BATCH_REPLY` (the
    orderer answered a batch with the wrong number of responses)."""

    code = "BROADCAST_BATCH_FAILED"


class CoalescingBroadcastClient:
    """`BroadcastClient` that coalesces concurrent calls to one orderer into
    `scf.BroadcastBatch/BroadcastEnvelopes` batches, with no timer (`Coalescer`).

    Contract: `Coalescer`'s, with these specifics:

    * Each envelope is answered as on a Broadcast stream (the orderer admits a
      batch's envelopes in order, and answers each under the stream's
      acknowledgement rule).
    * At most `max_outstanding` batch calls are in flight; batches are cut at
      `max_batch` envelopes (the orderer's bound) or `max_batch_bytes`.
    * A failed batch call raises its `grpc.RpcError` in every caller of that batch
      (the gateway then tries the next orderer); no answer within `timeout`, or a
      malformed reply, raises `BroadcastBatchError`. An envelope is never re-sent.
    * An orderer answering UNIMPLEMENTED (a Fabric orderer, an older scfchain
      orderer) turns this client permanently into a `GrpcBroadcastClient` (one
      pipelined Broadcast stream); `close` ends that stream.
    """

    def __init__(
        self,
        channel: grpc.Channel,
        *,
        timeout: float = DEFAULT_BROADCAST_TIMEOUT,
        max_outstanding: int = DEFAULT_MAX_OUTSTANDING_BROADCASTS,
        max_batch: int = MAX_BROADCAST_BATCH,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        clock: Callable[[], float] = time.monotonic,
        address: str = "",
    ) -> None:
        stub = batch_pb2_grpc.BroadcastBatchStub(channel)  # type: ignore[no-untyped-call]
        self._stream = GrpcBroadcastClient(channel, timeout=timeout)
        rpc: BatchRpc[
            common_pb2.Envelope,
            ab_pb2.BroadcastResponse,
            batch_pb2.EnvelopeBatch,
            batch_pb2.BroadcastResponseBatch,
        ] = BatchRpc(
            method=stub.BroadcastEnvelopes,
            request=lambda envelopes: batch_pb2.EnvelopeBatch(envelopes=envelopes),
            responses=lambda reply: reply.responses,
            single=self._stream.broadcast,
            error=BroadcastBatchError,
            timeout_code="BROADCAST_TIMEOUT",
            node="orderer",
            service="scf.BroadcastBatch",
        )
        self._coalescer = Coalescer(
            rpc,
            timeout=timeout,
            max_outstanding=max_outstanding,
            max_batch=max_batch,
            max_batch_bytes=max_batch_bytes,
            clock=clock,
            address=address,
        )

    @property
    def batching(self) -> bool:
        """False once the orderer answered UNIMPLEMENTED (a stream is used then)."""
        return self._coalescer.batching

    def queued(self) -> int:
        """Envelopes waiting for a free batch slot (observability and tests)."""
        return self._coalescer.queued()

    def broadcast(self, envelope: common_pb2.Envelope, /) -> ab_pb2.BroadcastResponse:
        return self._coalescer.call(envelope, envelope.ByteSize())

    def close(self) -> None:
        """End the fallback stream, if one is open (the channel stays open)."""
        self._stream.close()
