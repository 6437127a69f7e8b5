"""gRPC implementations of the gateway's client Protocols, over channels the node
owns (pooled by address, mutual TLS), and a helper to list a channel's endorsers.

The node builds these from its channel pool:

    GrpcEndorserClient(pool.channel(address))
    GrpcBroadcastClient(pool.channel(address))

Neither creates a channel or TLS material, and neither closes the channel it was
given (the pool owns it); `GrpcBroadcastClient.close` only ends its stream.
"""

from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Collection, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import grpc

from common.config.channel import ChannelConfig
from peer.endorser.endorser import MIN_HEIGHT_METADATA
from peer.gateway.support import RemotePeer
from protos.common import common_pb2
from protos.orderer import ab_pb2, ab_pb2_grpc
from protos.peer import peer_pb2_grpc, proposal_pb2, proposal_response_pb2

__all__ = ["GrpcBroadcastClient", "GrpcEndorserClient", "endorsing_peers_from_config"]

DEFAULT_ENDORSE_TIMEOUT = 30.0
"""Seconds a remote ProcessProposal may take (Fabric's gateway endorsementTimeout)."""
DEFAULT_BROADCAST_TIMEOUT = 30.0
"""Seconds to wait for an orderer's answer to one envelope (Fabric's broadcastTimeout)."""


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
