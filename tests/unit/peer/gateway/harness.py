"""A gateway peer of CoreMSP in a test world: real endorsers (Core local, Bank
remote), a real committer over a MemoryLedger, fake orderers, and the Gateway
service on an in-process gRPC server."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent import futures
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import grpc
from google.rpc import status_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status

from common import txutil
from common.config.bundle import ChannelBundle
from common.msp import SigningIdentity
from peer.committer import CommitListener, Committer, TxStatusWaiters
from peer.gateway import GatewayServicer, RemotePeer
from peer.gateway.support import BlockSource, BroadcastClient, CommitWaiter, EndorserClient
from peer.ledger import MemoryLedger
from protos.common import common_pb2
from protos.gateway import gateway_pb2, gateway_pb2_grpc
from protos.orderer import ab_pb2
from protos.peer import proposal_pb2, proposal_response_pb2
from tests.unit.peer.endorser.world import CHANNEL, World, order

CORE_ADDRESS = "peer0.core:7051"
BANK_ADDRESS = "peer0.bank:7051"


class Unreachable:
    """An endorser or orderer that cannot be reached."""

    def __init__(self) -> None:
        self.calls = 0

    def process_proposal(
        self, signed: proposal_pb2.SignedProposal, /, min_height: int = 0
    ) -> proposal_response_pb2.ProposalResponse:
        self.calls += 1
        raise ConnectionError("connection refused")

    def broadcast(self, envelope: common_pb2.Envelope, /) -> ab_pb2.BroadcastResponse:
        self.calls += 1
        raise ConnectionError("connection refused")


@dataclass
class FakeOrderer:
    """Answers each envelope with the next status of `answers` (then SUCCESS) and
    records what it accepted."""

    answers: list[int] = field(default_factory=list)
    received: list[common_pb2.Envelope] = field(default_factory=list)

    def broadcast(self, envelope: common_pb2.Envelope, /) -> ab_pb2.BroadcastResponse:
        status = self.answers.pop(0) if self.answers else common_pb2.SUCCESS
        if status == common_pb2.SUCCESS:
            self.received.append(envelope)
        return ab_pb2.BroadcastResponse(status=status, info="test")  # type: ignore[arg-type]


class FakeSupport:
    """`GatewaySupport` over in-process objects; remote endorsers by address."""

    def __init__(
        self,
        world: World,
        ledger: MemoryLedger,
        committer: Committer,
        waiters: TxStatusWaiters,
        *,
        local: EndorserClient | None,
        remotes: Sequence[tuple[RemotePeer, EndorserClient]],
        orderers: Sequence[tuple[str, BroadcastClient]],
    ) -> None:
        self.world = world
        self._ledger = ledger
        self._committer = committer
        self._waiters = waiters
        self._local = local
        self._remotes = list(remotes)
        self._orderers = list(orderers)

    @property
    def local_mspid(self) -> str:
        return "CoreMSP"

    @property
    def local_address(self) -> str:
        return CORE_ADDRESS

    def bundle(self, channel_id: str) -> ChannelBundle | None:
        return self.world.bundle if channel_id == CHANNEL else None

    def local_endorser(self) -> EndorserClient | None:
        return self._local

    def remote_peers(self, channel_id: str) -> Sequence[RemotePeer]:
        return [peer for peer, _ in self._remotes]

    def endorser(self, address: str) -> EndorserClient:
        return next(client for peer, client in self._remotes if peer.address == address)

    def orderers(self, channel_id: str) -> Sequence[str]:
        return [address for address, _ in self._orderers]

    def broadcaster(self, address: str) -> BroadcastClient:
        return next(client for a, client in self._orderers if a == address)

    def commit_waiter(self, channel_id: str) -> CommitWaiter | None:
        return self._waiters if channel_id == CHANNEL else None

    def blocks(self, channel_id: str) -> BlockSource | None:
        return self._ledger if channel_id == CHANNEL else None

    def add_commit_listener(self, channel_id: str, listener: CommitListener) -> None:
        self._committer.add_listener(listener)

    def remove_commit_listener(self, channel_id: str, listener: CommitListener) -> None:
        with suppress(ValueError):
            self._committer.remove_listener(listener)


@dataclass
class Node:
    """The running gateway and what the test drives."""

    world: World
    ledger: MemoryLedger
    committer: Committer
    stub: gateway_pb2_grpc.GatewayStub
    orderers: dict[str, FakeOrderer]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def commit(self, entries: list[bytes]) -> int:
        """Order `entries` into the next block and commit it; its number."""
        with self.lock:
            previous = self.ledger.block(self.ledger.height() - 1)
            assert previous is not None
            block = order(self.world, self.ledger.height(), previous, entries)
            return self.committer.commit_block(block).number


@contextmanager
def gateway_node(
    world: World,
    *,
    ledger: MemoryLedger | None = None,
    bank_ledger: MemoryLedger | None = None,
    local: bool = True,
    extra_remotes: Sequence[tuple[RemotePeer, EndorserClient]] = (),
    orderers: Sequence[tuple[str, BroadcastClient]] | None = None,
) -> Iterator[Node]:
    """Start a gateway peer of CoreMSP; everything is closed on exit."""
    ledger = ledger or MemoryLedger()
    waiters = TxStatusWaiters(ledger)
    committer = Committer(ledger, world.bundle, listeners=[waiters])
    if ledger.height() == 0:
        committer.commit_block(world.genesis())
    fake_orderers = {"orderer0:7050": FakeOrderer(), "orderer1:7050": FakeOrderer()}
    orderer_list: Sequence[tuple[str, BroadcastClient]] = (
        list(fake_orderers.items()) if orderers is None else orderers
    )
    bank = world.endorser(world.bank_peer, bank_ledger or ledger)
    support = FakeSupport(
        world,
        ledger,
        committer,
        waiters,
        local=world.endorser(world.core_peer, ledger) if local else None,
        remotes=[*extra_remotes, (RemotePeer("BankMSP", BANK_ADDRESS), bank)],
        orderers=orderer_list,
    )
    servicer = GatewayServicer(support)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    gateway_pb2_grpc.add_GatewayServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Node(
            world,
            ledger,
            committer,
            gateway_pb2_grpc.GatewayStub(channel),  # type: ignore[no-untyped-call]
            fake_orderers,
        )
    finally:
        channel.close()
        server.stop(grace=None).wait()
        committer.close()


def error_details(error: grpc.RpcError) -> list[gateway_pb2.ErrorDetail]:
    """The ErrorDetails packed in a failed call's google.rpc.Status."""
    status: status_pb2.Status | None = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no rich status on the error"
    details = []
    for item in status.details:
        detail = gateway_pb2.ErrorDetail()
        assert item.Unpack(detail)
        details.append(detail)
    return details


def sign_prepared(signer: SigningIdentity, prepared: common_pb2.Envelope) -> common_pb2.Envelope:
    return txutil.sign_envelope(bytes(prepared.payload), signer)


def code_of(error: grpc.RpcError) -> grpc.StatusCode:
    assert isinstance(error, grpc.Call)
    return error.code()


def message_of(error: grpc.RpcError) -> str:
    assert isinstance(error, grpc.Call)
    return error.details() or ""
