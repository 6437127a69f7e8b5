"""The peer's one gRPC server (TLS) and the proposal processors it serves.

`PeerServer` owns the `grpc.Server` and its thread pool: services register before
`start()`; `stop()` refuses new calls, gives running ones a grace period, then
releases the pool. The node serves `protos.Endorser/ProcessProposal` (through
`peer.endorser.EndorserServicer`) from a `TimedEndorser`, which records
`peer_endorse_latency_seconds`, or a `NonEndorser` on a peer configured with
`endorser: false`, which refuses every proposal with a clear status.
"""

from __future__ import annotations

import logging
import time

from common import grpclimits, tls
from peer.endorser.endorser import ProposalProcessor
from peer.metrics import PeerMetrics
from protos.common import common_pb2
from protos.peer import proposal_pb2, proposal_response_pb2

__all__ = ["NonEndorser", "PeerServer", "TimedEndorser"]

log = logging.getLogger("peer.server")


class TimedEndorser:
    """Wraps an endorser to record its latency by response status."""

    def __init__(self, inner: ProposalProcessor, metrics: PeerMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def process_proposal(
        self, signed: proposal_pb2.SignedProposal, /, min_height: int = 0
    ) -> proposal_response_pb2.ProposalResponse:
        started = time.perf_counter()
        response = self._inner.process_proposal(signed, min_height)
        self._metrics.endorsed(response.response.status, time.perf_counter() - started)
        return response


class NonEndorser:
    """The endorser of a peer that commits but never endorses (the regulator's):
    every proposal gets status 403 and a message naming the peer and why."""

    def __init__(self, name: str, mspid: str) -> None:
        self._message = (
            f"ENDORSER_DISABLED: peer {name} of {mspid} does not endorse or evaluate "
            "proposals (configured with endorser: false); send them to an endorsing peer"
        )

    def process_proposal(
        self, signed: proposal_pb2.SignedProposal, /, min_height: int = 0
    ) -> proposal_response_pb2.ProposalResponse:
        return proposal_response_pb2.ProposalResponse(
            version=1,
            response=proposal_response_pb2.Response(
                status=common_pb2.FORBIDDEN, message=self._message
            ),
        )


class PeerServer:
    """One gRPC server on `address`, over TLS when `server_tls` is given, with the
    concurrency, message-size and timeout limits of `common.grpclimits`."""

    def __init__(
        self,
        address: str,
        server_tls: tls.ServerTls | None,
        *,
        limits: grpclimits.GrpcLimits = grpclimits.DEFAULT_LIMITS,
    ) -> None:
        self._address = address
        self._tls = server_tls
        self.server, self._executor, self.limiter = grpclimits.limited_server(
            limits, name="peer-rpc"
        )
        self.port = 0

    def start(self) -> int:
        """Bind and serve; returns the bound port. Raises `OSError` if it cannot bind."""
        try:
            if self._tls is not None:
                self.port = self.server.add_secure_port(self._address, self._tls.credentials())
            else:
                log.warning("no TLS configured: serving %s in plaintext (dev only)", self._address)
                self.port = self.server.add_insecure_port(self._address)
        except RuntimeError as exc:  # grpc raises this when the port is taken
            raise OSError(f"cannot listen on {self._address}: {exc}") from None
        if self.port == 0:
            raise OSError(f"cannot listen on {self._address}")
        self.server.start()
        return self.port

    def stop(self, grace_s: float = 1.0) -> None:
        self.server.stop(grace_s).wait()
        self._executor.shutdown(wait=True, cancel_futures=True)
