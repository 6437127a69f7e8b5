"""gRPC implementations of the gateway's client Protocols, over channels the node
owns (pooled by address, mutual TLS), and a helper to list a channel's endorsers.

The node builds these from its channel pool:

    GrpcEndorserClient(pool.channel(address))
    GrpcBroadcastClient(pool.channel(address))

Neither creates a channel or TLS material, and neither closes the channel it was
given (the pool owns it); `GrpcBroadcastClient.close` only ends its stream.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Collection, Iterator
from typing import Any

import grpc

from common.config.channel import ChannelConfig
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
        self, signed: proposal_pb2.SignedProposal, /
    ) -> proposal_response_pb2.ProposalResponse:
        response: proposal_response_pb2.ProposalResponse = self._stub.ProcessProposal(
            signed, timeout=self._timeout
        )
        return response


class _Stream:
    """One open Broadcast stream: a request queue feeding gRPC and its responses."""

    def __init__(self, stub: ab_pb2_grpc.AtomicBroadcastStub) -> None:
        self.requests: queue.SimpleQueue[common_pb2.Envelope | None] = queue.SimpleQueue()
        self.call: Any = stub.Broadcast(self._generate())
        self.responses: Iterator[ab_pb2.BroadcastResponse] = self.call

    def _generate(self) -> Iterator[common_pb2.Envelope]:
        while True:
            envelope = self.requests.get()
            if envelope is None:  # close(): end the request side of the stream
                return
            yield envelope

    def alive(self) -> bool:
        return not self.call.done()

    def close(self) -> None:
        self.requests.put(None)
        self.call.cancel()


class GrpcBroadcastClient:
    """`BroadcastClient` keeping one Broadcast stream open to one orderer.

    The orderer answers the envelopes of a stream in order, one response each; calls
    are serialised by a lock so each caller reads its own response. A stream that
    failed or timed out is dropped and the next call opens a new one (an envelope is
    never re-sent by this client: the gateway decides whether to try another orderer).
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
            if stream is None or not stream.alive():
                if stream is not None:
                    stream.close()  # releases gRPC's thread blocked reading our queue
                stream = self._stream = _Stream(self._stub)
            # A stream read cannot time out by itself: cancel the call if the orderer
            # stays silent, which makes `next` raise.
            timer = threading.Timer(self._timeout, stream.call.cancel)
            timer.daemon = True
            timer.start()
            try:
                stream.requests.put(envelope)
                return next(stream.responses)
            except BaseException:
                stream.close()
                self._stream = None
                raise
            finally:
                timer.cancel()

    def close(self) -> None:
        """End the open stream, if any (the channel stays open)."""
        with self._lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None
