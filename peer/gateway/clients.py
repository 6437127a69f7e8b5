"""gRPC implementations of the gateway's client Protocols, over channels the node
owns (pooled by address, mutual TLS), and a helper to list a channel's endorsers.

The node builds these from its channel pool:

    CoalescingEndorserClient(pool.channel(address))  # batches; unary if the peer can't
    GrpcBroadcastClient(pool.channel(address))       # a stream; batches for a batch

Both send a gateway batch's items as calls of our batch services
(protos/scf/batch.proto) when the node has them, and fall back to Fabric's
services when it has not; the endorser client also coalesces concurrent single
calls (`peer.gateway.coalesce.Coalescer`). None creates a channel or TLS material,
and none closes the channel it was given (the pool owns it); `close` only ends a
client's Broadcast stream.
"""

from __future__ import annotations

import collections
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

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

ProposalResponse = proposal_response_pb2.ProposalResponse
EndorseAnswers = list[ProposalResponse | Exception]
BroadcastAnswers = list[ab_pb2.BroadcastResponse | Exception]
_M = TypeVar("_M", bound=Message)
_R = TypeVar("_R")


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


# ----------------------------------------------------------- batch call helpers


def _chunks(items: Sequence[_M], max_count: int, max_bytes: int) -> list[list[_M]]:
    """`items` in order, cut into runs of at most `max_count` items and (unless one
    item alone is larger) `max_bytes` serialized bytes: one batch call each."""
    chunks: list[list[_M]] = []
    size = 0
    for item in items:
        item_size = item.ByteSize()
        if not chunks or len(chunks[-1]) >= max_count or size + item_size > max_bytes:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += item_size
    return chunks


def _start(method: Any, request: Message, **kwargs: Any) -> Callable[[], Any]:
    """`method.future(request, **kwargs)` started now; the returned function waits
    for its reply, raising what the call (or starting it) raised."""
    try:
        future = method.future(request, **kwargs)
    except Exception as exc:  # e.g. the channel is closed
        error = exc

        def failed() -> Any:
            raise error

        return failed
    return future.result  # type: ignore[no-any-return]


def _each(count: int, call: Callable[[], Sequence[_R]]) -> list[_R | Exception]:
    """`call()`'s answers, or its exception once for each of its `count` items."""
    try:
        return list(call())
    except Exception as exc:  # the call failed: each of its items failed with it
        return [exc] * count


def _unimplemented(exc: Exception) -> bool:
    return isinstance(exc, grpc.Call) and exc.code() == grpc.StatusCode.UNIMPLEMENTED


class _Pending:
    """Answers of calls in flight (`PendingResponses`): each part waits for its
    call and gives its items' answers; `result` joins them in order."""

    def __init__(self, parts: Sequence[Callable[[], EndorseAnswers]]) -> None:
        self._parts = parts

    def result(self) -> EndorseAnswers:
        return [answer for part in self._parts for answer in part()]


# ------------------------------------------------------------------- endorsers


class GrpcEndorserClient:
    """`BatchEndorserClient` over a gRPC channel with Fabric's service only: one
    unary ProcessProposal per proposal, with a deadline (several at once are in
    flight together). Transport errors raise `grpc.RpcError`."""

    def __init__(self, channel: grpc.Channel, *, timeout: float = DEFAULT_ENDORSE_TIMEOUT) -> None:
        self._stub = peer_pb2_grpc.EndorserStub(channel)  # type: ignore[no-untyped-call]
        self._timeout = timeout

    def process_proposal(
        self, signed: proposal_pb2.SignedProposal, /, min_height: int = 0
    ) -> proposal_response_pb2.ProposalResponse:
        """`min_height` travels as call metadata (see `MIN_HEIGHT_METADATA`)."""
        response: proposal_response_pb2.ProposalResponse = self._stub.ProcessProposal(
            signed, timeout=self._timeout, metadata=_height_metadata(min_height)
        )
        return response

    def process_proposals(
        self, signed: Sequence[proposal_pb2.SignedProposal], /, min_height: int = 0
    ) -> EndorseAnswers:
        if len(signed) == 1:  # blocking: gRPC polls on this thread
            return _each(1, lambda: [self.process_proposal(signed[0], min_height)])
        return self.start_proposals(signed, min_height).result()

    def start_proposals(
        self, signed: Sequence[proposal_pb2.SignedProposal], /, min_height: int = 0
    ) -> _Pending:
        metadata = _height_metadata(min_height)
        calls = [
            _start(self._stub.ProcessProposal, p, timeout=self._timeout, metadata=metadata)
            for p in signed
        ]
        return _Pending([functools.partial(_each, 1, functools.partial(_one, c)) for c in calls])


def _one(call: Callable[[], _R]) -> list[_R]:
    return [call()]


def _height_metadata(min_height: int) -> tuple[tuple[str, str], ...] | None:
    return ((MIN_HEIGHT_METADATA, str(min_height)),) if min_height > 0 else None


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
    """`BatchEndorserClient` over `scf.EndorserBatch/ProcessProposals`.

    Contract of `process_proposal` (and of `process_proposals` of ONE proposal, as
    a single Endorse sends): `Coalescer`'s, coalescing concurrent calls to one peer
    into batches with no timer, with these specifics:

    * At most `max_outstanding` batch calls are in flight (they last a few ms: the
      peer simulates and answers).
    * No answer within `timeout` seconds, or a malformed reply, raises
      `EndorseBatchError` (`ENDORSE_TIMEOUT`, `BAD_BATCH_REPLY`).
    * A batch carries the largest `min_height` of its items (the endorser waits
      for that height, briefly, before simulating; see `peer.endorser.batch`).

    `process_proposals` / `start_proposals` of several proposals (a gateway
    batch's) send them at once as their own batch call(s), bypassing the queue,
    cut at `max_batch` proposals and `max_batch_bytes`; a malformed reply answers
    each of its proposals with `EndorseBatchError` (`BAD_BATCH_REPLY`).

    A peer answering UNIMPLEMENTED (a Fabric peer, an older scfchain peer) turns
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
        self._stub = batch_pb2_grpc.EndorserBatchStub(channel)  # type: ignore[no-untyped-call]
        self._unary = GrpcEndorserClient(channel, timeout=timeout)
        self._timeout = timeout
        self._max_batch = max_batch
        self._max_batch_bytes = max_batch_bytes
        rpc: BatchRpc[
            _Proposal,
            proposal_response_pb2.ProposalResponse,
            batch_pb2.ProposalBatch,
            batch_pb2.ProposalResponseBatch,
        ] = BatchRpc(
            method=self._stub.ProcessProposals,
            request=lambda items: batch_pb2.ProposalBatch(
                proposals=[p.signed for p in items],
                min_ledger_height=max(p.min_height for p in items),
            ),
            responses=lambda reply: reply.responses,
            single=lambda p: self._unary.process_proposal(p.signed, p.min_height),
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

    def process_proposals(
        self, signed: Sequence[proposal_pb2.SignedProposal], /, min_height: int = 0
    ) -> EndorseAnswers:
        if len(signed) == 1:  # a single Endorse: coalesced with its concurrent peers
            return _each(1, lambda: [self.process_proposal(signed[0], min_height)])
        chunks = _chunks(signed, self._max_batch, self._max_batch_bytes)
        if len(chunks) > 1 or not self._coalescer.batching:
            return self.start_proposals(signed, min_height).result()
        # One call, blocking: gRPC polls for the reply on this thread.
        return self._answers(chunks[0], min_height, lambda: self._call(chunks[0], min_height))

    def start_proposals(
        self, signed: Sequence[proposal_pb2.SignedProposal], /, min_height: int = 0
    ) -> _Pending:
        if not self._coalescer.batching:
            return self._unary.start_proposals(signed, min_height)
        parts = []
        for chunk in _chunks(signed, self._max_batch, self._max_batch_bytes):
            request = batch_pb2.ProposalBatch(proposals=chunk, min_ledger_height=min_height)
            reply = _start(self._stub.ProcessProposals, request, timeout=self._timeout)
            parts.append(functools.partial(self._answers, chunk, min_height, reply))
        return _Pending(parts)

    def _call(
        self, chunk: list[proposal_pb2.SignedProposal], min_height: int
    ) -> batch_pb2.ProposalResponseBatch:
        request = batch_pb2.ProposalBatch(proposals=chunk, min_ledger_height=min_height)
        reply: batch_pb2.ProposalResponseBatch = self._stub.ProcessProposals(
            request, timeout=self._timeout
        )
        return reply

    def _answers(
        self,
        chunk: list[proposal_pb2.SignedProposal],
        min_height: int,
        reply: Callable[[], batch_pb2.ProposalResponseBatch],
    ) -> EndorseAnswers:
        """The answers of one batch call's `chunk`, from `reply()`; an UNIMPLEMENTED
        peer gets them again as unary calls (and every later call too)."""
        try:
            responses = reply().responses
        except Exception as exc:  # grpc.RpcError: the call failed, each item with it
            if not _unimplemented(exc):
                return [exc] * len(chunk)
            self._coalescer.fall_back()
            return self._unary.process_proposals(chunk, min_height)
        if len(responses) != len(chunk):
            error = EndorseBatchError(
                f"the endorser answered {len(responses)} responses to a batch of {len(chunk)}",
                code="BAD_BATCH_REPLY",
            )
            return [error] * len(chunk)
        return list(responses)


# -------------------------------------------------------------------- orderers


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


class BroadcastBatchError(ScfError):
    """An orderer answered a `BroadcastEnvelopes` batch with the wrong number of
    responses (`BAD_BATCH_REPLY`): every envelope of that batch fails with it."""

    code = "BROADCAST_BATCH_FAILED"


class GrpcBroadcastClient:
    """`BatchBroadcastClient` for one orderer.

    `broadcast` (a single Submit) uses one Broadcast stream kept open: concurrent
    calls are pipelined on it, as Fabric's gateway sends concurrent submits on
    their own streams: the orderer admits each envelope as it arrives and answers
    them in order (an orderer that acknowledges on commit answers once the block is
    cut, so waiting for one answer before sending the next envelope would put every
    transaction through one gateway into a block of its own). A stream that failed
    or timed out is dropped, failing every call waiting on it, and the next call
    opens a new one.

    `broadcast_batch` (a SubmitBatch) sends its envelopes as one
    `scf.BroadcastBatch/BroadcastEnvelopes` call (more when over `max_batch`
    envelopes or `max_batch_bytes`, in flight together); an orderer answering
    UNIMPLEMENTED (a Fabric orderer, an older scfchain orderer) gets them, and
    every later batch, pipelined on the stream instead. A failed call answers
    each of its envelopes with its `grpc.RpcError` (DEADLINE_EXCEEDED after
    `timeout`). An envelope is never re-sent by this client: the gateway decides
    whether to try another orderer.
    """

    def __init__(
        self,
        channel: grpc.Channel,
        *,
        timeout: float = DEFAULT_BROADCAST_TIMEOUT,
        max_batch: int = MAX_BROADCAST_BATCH,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        address: str = "",
    ) -> None:
        self._stub = ab_pb2_grpc.AtomicBroadcastStub(channel)  # type: ignore[no-untyped-call]
        self._batch_stub = batch_pb2_grpc.BroadcastBatchStub(channel)  # type: ignore[no-untyped-call]
        self._timeout = timeout
        self._max_batch = max_batch
        self._max_batch_bytes = max_batch_bytes
        self._address = address or "(unnamed)"
        self._lock = threading.Lock()
        self._stream: _Stream | None = None
        self._batching = True

    @property
    def batching(self) -> bool:
        """False once the orderer answered UNIMPLEMENTED (batches use the stream)."""
        with self._lock:
            return self._batching

    def broadcast(self, envelope: common_pb2.Envelope, /) -> ab_pb2.BroadcastResponse:
        with self._lock:
            stream, waiter = self._send(envelope)
        return self._await(stream, waiter, self._timeout)

    def broadcast_batch(self, envelopes: Sequence[common_pb2.Envelope], /) -> BroadcastAnswers:
        if not self.batching:
            return self._pipeline(envelopes)
        chunks = _chunks(envelopes, self._max_batch, self._max_batch_bytes)
        if len(chunks) == 1:  # blocking: gRPC polls for the reply on this thread
            return self._answers(chunks[0], functools.partial(self._call, chunks[0]))
        replies = [
            _start(
                self._batch_stub.BroadcastEnvelopes,
                batch_pb2.EnvelopeBatch(envelopes=chunk),
                timeout=self._timeout,
            )
            for chunk in chunks
        ]
        return [a for c, r in zip(chunks, replies, strict=True) for a in self._answers(c, r)]

    def _call(self, chunk: list[common_pb2.Envelope]) -> batch_pb2.BroadcastResponseBatch:
        reply: batch_pb2.BroadcastResponseBatch = self._batch_stub.BroadcastEnvelopes(
            batch_pb2.EnvelopeBatch(envelopes=chunk), timeout=self._timeout
        )
        return reply

    def _answers(
        self,
        chunk: list[common_pb2.Envelope],
        reply: Callable[[], batch_pb2.BroadcastResponseBatch],
    ) -> BroadcastAnswers:
        """The answers of one batch call's `chunk`, from `reply()`; an UNIMPLEMENTED
        orderer gets them again on the stream (and every later batch too)."""
        try:
            responses = reply().responses
        except Exception as exc:  # grpc.RpcError: the call failed, each item with it
            if not _unimplemented(exc):
                return [exc] * len(chunk)
            with self._lock:
                first, self._batching = self._batching, False
            if first:
                log.info(
                    "orderer %s has no scf.BroadcastBatch service; using its Broadcast stream",
                    self._address,
                )
            return self._pipeline(chunk)
        if len(responses) != len(chunk):
            error = BroadcastBatchError(
                f"the orderer answered {len(responses)} responses to a batch of {len(chunk)}",
                code="BAD_BATCH_REPLY",
            )
            return [error] * len(chunk)
        return list(responses)

    def _pipeline(self, envelopes: Sequence[common_pb2.Envelope]) -> BroadcastAnswers:
        """Every envelope sent on the stream, then every answer awaited (all within
        `timeout` of now)."""
        with self._lock:
            sent = [self._send(envelope) for envelope in envelopes]
        deadline = time.monotonic() + self._timeout
        answers: BroadcastAnswers = []
        for stream, waiter in sent:
            try:
                answers.append(self._await(stream, waiter, deadline - time.monotonic()))
            except Exception as exc:  # the stream broke or timed out: this one failed
                answers.append(exc)
        return answers

    def _send(
        self, envelope: common_pb2.Envelope
    ) -> tuple[_Stream, Future[ab_pb2.BroadcastResponse]]:
        """Queue `envelope` on the open stream, or a new one; call with `_lock` held."""
        stream = self._stream
        waiter = stream.send(envelope) if stream is not None and stream.alive() else None
        if stream is None or waiter is None:
            if stream is not None:
                stream.close()  # releases gRPC's thread blocked reading our queue
            stream = self._stream = _Stream(self._stub)
            waiter = stream.send(envelope)
            assert waiter is not None  # a new stream has not failed yet
        return stream, waiter

    def _await(
        self, stream: _Stream, waiter: Future[ab_pb2.BroadcastResponse], timeout: float
    ) -> ab_pb2.BroadcastResponse:
        """`waiter`'s answer within `timeout` seconds; a failed or silent stream is
        dropped (failing every call waiting on it) and its error raised."""
        try:
            try:
                return waiter.result(timeout=max(timeout, 0.0))
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
