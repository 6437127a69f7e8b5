"""What the Gateway service needs from the peer it runs in (Fabric's gateway
`registry` + `CommitFinder` + `ACLChecker`, as one small Protocol owned here).

The node (`peer/node.py`) implements `GatewaySupport`; tests implement it with
in-process fakes. The gateway never creates TLS material or gRPC channels itself:
every connection to another node comes from the support, pooled by address.

Threading: the gateway calls every method from gRPC worker threads, concurrently.
Implementations must be thread-safe; the clients they return are shared between
concurrent calls.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeGuard, runtime_checkable

from common.config.bundle import ChannelBundle
from peer.committer import CommitListener, TxStatus
from protos.common import common_pb2
from protos.orderer import ab_pb2
from protos.peer import proposal_pb2, proposal_response_pb2

__all__ = [
    "BatchBroadcastClient",
    "BatchEndorserClient",
    "BlockSource",
    "BroadcastClient",
    "CommitWaiter",
    "EndorserClient",
    "GatewaySupport",
    "PendingResponses",
    "RemotePeer",
]

ProposalResponse = proposal_response_pb2.ProposalResponse


class EndorserClient(Protocol):
    """One endorsing peer's `protos.Endorser/ProcessProposal`.

    The local `peer.endorser.Endorser` satisfies this as it is. A remote client
    (`peer.gateway.clients.CoalescingEndorserClient`, which batches concurrent
    calls, or `GrpcEndorserClient`, over a pooled mutual-TLS channel) applies its
    own deadline, and is also a `BatchEndorserClient`.

    Contract: a refusal or a chaincode error is a *response* (status >= 400 and a
    message); an exception means the peer could not be reached or answered nothing
    usable (the gateway then tries another peer of the same org, if any).
    """

    def process_proposal(
        self, signed: proposal_pb2.SignedProposal, /, min_height: int = 0
    ) -> proposal_response_pb2.ProposalResponse: ...


class PendingResponses(Protocol):
    """The answers of proposals in flight (`BatchEndorserClient.start_proposals`)."""

    def result(self) -> list[ProposalResponse | Exception]:
        """Blocks until every proposal is answered; never raises (see
        `BatchEndorserClient.process_proposals` for what each answer is)."""
        ...


@runtime_checkable
class BatchEndorserClient(EndorserClient, Protocol):
    """An `EndorserClient` that also sends many proposals at once (to an scfchain
    peer as one `scf.EndorserBatch/ProcessProposals` call, to a Fabric peer as
    unary calls in flight together). The gateway checks for it with `isinstance`;
    a client without it gets one `process_proposal` per proposal.
    """

    def process_proposals(
        self, signed: Sequence[proposal_pb2.SignedProposal], /, min_height: int = 0
    ) -> list[ProposalResponse | Exception]:
        """One answer per proposal, in order: its response (a refusal is a response,
        as for `process_proposal`), or the exception that stands for it (a failed
        batch call gives each of its proposals that call's exception). Blocks on
        the calling thread; never raises."""
        ...

    def start_proposals(
        self, signed: Sequence[proposal_pb2.SignedProposal], /, min_height: int = 0
    ) -> PendingResponses:
        """`process_proposals` sent now as future calls, answered by `result()`:
        for endorsing on several peers at once without a thread per call."""
        ...


def batches_endorsements(client: EndorserClient) -> TypeGuard[BatchEndorserClient]:
    """`isinstance(client, BatchEndorserClient)`, remembered per class."""
    return _conforms(type(client), BatchEndorserClient)


def batches_broadcasts(client: BroadcastClient) -> TypeGuard[BatchBroadcastClient]:
    """`isinstance(client, BatchBroadcastClient)`, remembered per class."""
    return _conforms(type(client), BatchBroadcastClient)


@functools.cache
def _conforms(cls: type, protocol: type) -> bool:
    # `isinstance` against a runtime protocol walks the protocol's members on every
    # call: ≈ 1 % of a gateway peer's CPU when made once per endorsement batch
    # (py-spy). Method-only protocols allow `issubclass`, which a class answers once.
    return issubclass(cls, protocol)


class BroadcastClient(Protocol):
    """One orderer's `orderer.AtomicBroadcast/Broadcast`.

    Contract: `broadcast` sends one envelope and returns the orderer's
    `BroadcastResponse` for it (SUCCESS, SERVICE_UNAVAILABLE, BAD_REQUEST, ...); it
    raises (any exception) when the orderer cannot be reached or the stream broke
    before the answer came, after which the next call may reconnect. Calls from
    several threads are allowed. Over a gRPC channel,
    `peer.gateway.clients.GrpcBroadcastClient` pipelines them on one Broadcast
    stream per orderer (Fabric's service), and is also a `BatchBroadcastClient`.
    """

    def broadcast(self, envelope: common_pb2.Envelope, /) -> ab_pb2.BroadcastResponse: ...


@runtime_checkable
class BatchBroadcastClient(BroadcastClient, Protocol):
    """A `BroadcastClient` that also sends many envelopes at once (to an scfchain
    orderer as `scf.BroadcastBatch/BroadcastEnvelopes` calls, to a Fabric orderer
    pipelined on its Broadcast stream). The gateway checks for it with
    `isinstance`; a client without it gets one `broadcast` per envelope."""

    def broadcast_batch(
        self, envelopes: Sequence[common_pb2.Envelope], /
    ) -> list[ab_pb2.BroadcastResponse | Exception]:
        """One answer per envelope, in order: the orderer's response, or the
        exception that stands for it (as `broadcast` would raise; a failed batch
        call gives each of its envelopes that call's exception). Blocks until
        every envelope is answered; never raises. No envelope is sent twice."""
        ...


class CommitWaiter(Protocol):
    """Waits for transactions of one channel to commit
    (`peer.committer.TxStatusWaiters` registered as a listener of the channel's
    committer satisfies this).

    Contract: `wait` returns the status as soon as `tx_id` is committed (including
    when it already was, by looking in the ledger after registering), or None after
    `timeout` seconds (None = wait forever).
    """

    def wait(self, tx_id: str, timeout: float | None = None) -> TxStatus | None: ...


class BlockSource(Protocol):
    """The committed blocks of one channel (what ChaincodeEvents replays from).

    `height()` is the number of committed blocks (the next block's number);
    `block(n)` returns block `n` with its TRANSACTIONS_FILTER metadata filled, or None
    when `n >= height()`. `peer.ledger.Ledger` satisfies this.
    """

    def height(self) -> int: ...

    def block(self, number: int) -> common_pb2.Block | None: ...


@dataclass(frozen=True)
class RemotePeer:
    """Another endorsing peer of a channel: its org, and the address (host:port) at
    which `GatewaySupport.endorser` connects to it (also what ErrorDetail reports)."""

    mspid: str
    address: str


class GatewaySupport(Protocol):
    """The peer as the gateway sees it. All methods are thread-safe."""

    @property
    def local_mspid(self) -> str:
        """The MSP id of this peer's org (its peers are preferred for endorsing and
        evaluating)."""
        ...

    @property
    def local_address(self) -> str:
        """This peer's externally visible address (host:port), reported in ErrorDetail
        for errors of the local endorser."""
        ...

    def bundle(self, channel_id: str) -> ChannelBundle | None:
        """The current config bundle of a channel this peer has joined, else None
        (the gateway then answers NOT_FOUND)."""
        ...

    def local_endorser(self) -> EndorserClient | None:
        """This peer's own endorser, called in-process; None if this peer does not
        endorse (e.g. the regulator's peer), in which case its org is endorsed and
        evaluated only through `remote_peers`."""
        ...

    def remote_peers(self, channel_id: str) -> Sequence[RemotePeer]:
        """The other endorsing peers of the channel, excluding this peer, in order of
        preference (e.g. the channel config's `application_orgs[*].peers` with
        `endorser=True`, see `peer.gateway.clients.endorsing_peers_from_config`,
        plus peers from the node's own configuration)."""
        ...

    def endorser(self, address: str) -> EndorserClient:
        """A client for the endorser at `address` (a `RemotePeer.address`), over a
        pooled mutual-TLS channel. Must not block on connecting: connection failures
        surface as exceptions from `process_proposal`."""
        ...

    def orderers(self, channel_id: str) -> Sequence[str]:
        """Addresses of the channel's orderers' AtomicBroadcast service (e.g. its
        consenters' `address`), in the order the gateway should try them."""
        ...

    def broadcaster(self, address: str) -> BroadcastClient:
        """A client for the orderer at `address`, over a pooled mutual-TLS channel,
        the same object for the same address (so its Broadcast stream is reused).
        Must not block on connecting."""
        ...

    def commit_waiter(self, channel_id: str) -> CommitWaiter | None:
        """The commit waiter of a joined channel, else None."""
        ...

    def blocks(self, channel_id: str) -> BlockSource | None:
        """The committed blocks of a joined channel, else None."""
        ...

    def add_commit_listener(self, channel_id: str, listener: CommitListener) -> None:
        """Tell `listener` about every block of the channel committed from now on
        (the committer's `add_listener`). The gateway only uses it as a wake-up:
        it reads the blocks themselves from `blocks(channel_id)`."""
        ...

    def remove_commit_listener(self, channel_id: str, listener: CommitListener) -> None:
        """Undo `add_commit_listener` (no error if it is not registered)."""
        ...
