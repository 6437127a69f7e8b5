"""The deliver client against in-process fake orderers (real gRPC): it resumes from
the ledger height, fails over from a dead orderer and from one that sends a forged
block (refused, never committed), and keeps going."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from client.free_ports import free_port
from common import block as blk
from peer.committer import Committer
from peer.config import DeliverOptions
from peer.deliver_client import DeliverClient
from peer.ledger import LevelLedger, open_channel_ledger
from peer.validator import BlockRefused
from protos.common import common_pb2
from protos.orderer import ab_pb2, ab_pb2_grpc
from tests.unit.peer.endorser.world import CHANNEL, World, endorse_tx, make_world, order

FAST = DeliverOptions(reconnect_backoff_min_s=0.05, reconnect_backoff_max_s=0.2)


class FakeOrderer(ab_pb2_grpc.AtomicBroadcastServicer):
    """Serves `chain` from the requested start; `forge` replaces one block's
    signature with garbage. Records the start numbers it was asked for."""

    def __init__(self, chain: list[common_pb2.Block], *, forge: int | None = None) -> None:
        self.chain = chain
        self.forge = forge
        self.starts: list[int] = []

    def Deliver(
        self, request_iterator: Iterator[common_pb2.Envelope], context: grpc.ServicerContext
    ) -> Iterator[ab_pb2.DeliverResponse]:
        for envelope in request_iterator:
            payload = common_pb2.Payload.FromString(envelope.payload)
            info = ab_pb2.SeekInfo.FromString(payload.data)
            number = info.start.specified.number
            self.starts.append(number)
            while context.is_active():
                if number >= len(self.chain):
                    time.sleep(0.02)
                    continue
                block = common_pb2.Block()
                block.CopyFrom(self.chain[number])
                if number == self.forge:
                    block.metadata.metadata[common_pb2.SIGNATURES] = b"\x0a\x00"
                yield ab_pb2.DeliverResponse(block=block)
                number += 1


class FirstRng(random.Random):
    """Makes the client start with the first endpoint (the test's order matters)."""

    def randrange(self, *args: object, **kwargs: object) -> int:
        return 0


class Sink:
    def __init__(self, ledger: LevelLedger, committer: Committer) -> None:
        self.ledger = ledger
        self.committer = committer
        self.refused: list[str] = []

    def height(self) -> int:
        return self.ledger.height()

    def commit(self, block: common_pb2.Block) -> None:
        try:
            self.committer.commit_block(block)
        except BlockRefused as exc:
            self.refused.append(exc.code)
            raise


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


def _chain(world: World, tmp_path: Path, length: int) -> list[common_pb2.Block]:
    """A valid chain of `length` blocks (built by committing on a scratch ledger)."""
    ledger = open_channel_ledger(tmp_path / "scratch", CHANNEL)
    committer = Committer(ledger, world.bundle)
    try:
        chain = [world.genesis()]
        committer.commit_block(chain[0])
        for number in range(1, length):
            endorsers = [
                world.endorser(world.core_peer, ledger),
                world.endorser(world.bank_peer, ledger),
            ]
            entry = endorse_tx(world.alice, endorsers, "Put", {"key": f"k{number}", "value": "v"})[
                0
            ]
            block = order(world, number, chain[-1], [entry])
            committer.commit_block(block)
            fresh = order(world, number, chain[-1], [entry])  # without the peer's metadata
            chain.append(fresh)
        return chain
    finally:
        committer.close()
        ledger.close()


def _serve(servicer: FakeOrderer) -> tuple[grpc.Server, str]:
    server = grpc.server(futures.ThreadPoolExecutor(4))
    ab_pb2_grpc.add_AtomicBroadcastServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


def _wait(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_failover_and_refused_block(world: World, tmp_path: Path) -> None:
    chain = _chain(world, tmp_path, 6)
    liar = FakeOrderer(chain, forge=3)
    honest = FakeOrderer(chain)
    servers = [_serve(liar), _serve(honest)]
    dead = f"127.0.0.1:{free_port()}"  # nobody listens here
    endpoints = [dead, servers[0][1], servers[1][1]]
    ledger = open_channel_ledger(tmp_path / "peer", CHANNEL)
    committer = Committer(ledger, world.bundle)
    committer.commit_block(chain[0])
    sink = Sink(ledger, committer)
    reconnects: list[str] = []
    client = DeliverClient(
        CHANNEL,
        lambda: endpoints,
        world.core_peer,
        sink,
        client_tls=None,
        options=FAST,
        on_reconnect=reconnects.append,
        rng=FirstRng(),
    )
    client.start()
    try:
        _wait(lambda: ledger.height() == 6)
        assert client.running
    finally:
        client.stop()
        for server, _ in servers:
            server.stop(None).wait()
        committer.close()
    try:
        assert sink.refused.count("BAD_BLOCK_SIGNATURE") >= 1
        assert any("block refused" in r for r in reconnects)
        # Every connection asked from the ledger's height at the time.
        assert set(liar.starts) | set(honest.starts) <= {1, 2, 3}
        for number in range(6):
            stored = ledger.block(number)
            assert stored is not None
            assert blk.header_hash(stored.header) == blk.header_hash(chain[number].header)
    finally:
        ledger.close()


def test_stop_while_waiting_for_blocks(world: World, tmp_path: Path) -> None:
    chain = _chain(world, tmp_path, 2)
    servicer = FakeOrderer(chain)
    server, address = _serve(servicer)
    ledger = open_channel_ledger(tmp_path / "peer", CHANNEL)
    committer = Committer(ledger, world.bundle)
    committer.commit_block(chain[0])
    client = DeliverClient(
        CHANNEL, lambda: [address], world.core_peer, Sink(ledger, committer), client_tls=None
    )
    client.start()
    try:
        _wait(lambda: ledger.height() == 2)
        started = time.monotonic()
        stopper = threading.Thread(target=client.stop)
        stopper.start()
        stopper.join(5)
        assert not stopper.is_alive()
        assert time.monotonic() - started < 5
        assert not client.running
    finally:
        client.stop()
        server.stop(None).wait()
        committer.close()
        ledger.close()
