"""The gRPC clients the node hands the gateway: Broadcast stream reuse and
recovery, ProcessProposal, and the endorsing peers of a channel config."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from common.config.channel import PeerEndpoint
from peer.endorser.endorser import EndorserServicer
from peer.gateway import (
    GrpcBroadcastClient,
    GrpcEndorserClient,
    RemotePeer,
    endorsing_peers_from_config,
)
from peer.ledger import MemoryLedger
from protos.common import common_pb2
from protos.orderer import ab_pb2, ab_pb2_grpc
from protos.peer import peer_pb2_grpc
from tests.unit.peer.endorser.world import make_world, propose


class Orderer(ab_pb2_grpc.AtomicBroadcastServicer):
    """Answers SUCCESS per envelope; counts streams; can break the current stream."""

    def __init__(self) -> None:
        self.streams = 0
        self.envelopes: list[bytes] = []
        self.break_next = threading.Event()

    def Broadcast(
        self, request_iterator: Iterator[common_pb2.Envelope], context: grpc.ServicerContext
    ) -> Iterator[ab_pb2.BroadcastResponse]:
        self.streams += 1
        for envelope in request_iterator:
            if self.break_next.is_set():
                self.break_next.clear()
                context.abort(grpc.StatusCode.UNAVAILABLE, "leader lost")
            self.envelopes.append(envelope.payload)
            yield ab_pb2.BroadcastResponse(status=common_pb2.SUCCESS)


@pytest.fixture
def server() -> Iterator[tuple[grpc.Server, int]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    port = server.add_insecure_port("127.0.0.1:0")
    yield server, port
    server.stop(grace=None).wait()


def test_broadcast_reuses_one_stream_and_recovers_from_a_broken_one(
    server: tuple[grpc.Server, int],
) -> None:
    grpc_server, port = server
    orderer = Orderer()
    ab_pb2_grpc.add_AtomicBroadcastServicer_to_server(orderer, grpc_server)  # type: ignore[no-untyped-call]
    grpc_server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        client = GrpcBroadcastClient(channel, timeout=5)
        try:
            for i in range(3):
                response = client.broadcast(common_pb2.Envelope(payload=b"%d" % i))
                assert response.status == common_pb2.SUCCESS
            assert orderer.streams == 1
            orderer.break_next.set()
            with pytest.raises(grpc.RpcError):
                client.broadcast(common_pb2.Envelope(payload=b"lost"))
            assert client.broadcast(common_pb2.Envelope(payload=b"3")).status == common_pb2.SUCCESS
            assert orderer.streams == 2
            assert orderer.envelopes == [b"0", b"1", b"2", b"3"]
        finally:
            client.close()


class BatchingOrderer(ab_pb2_grpc.AtomicBroadcastServicer):
    """Answers only once `batch` envelopes have arrived on the stream, then all of
    them in order, like an orderer that acknowledges when the block is cut."""

    def __init__(self, batch: int) -> None:
        self.batch = batch

    def Broadcast(
        self, request_iterator: Iterator[common_pb2.Envelope], context: grpc.ServicerContext
    ) -> Iterator[ab_pb2.BroadcastResponse]:
        pending = 0
        for _envelope in request_iterator:
            pending += 1
            if pending == self.batch:
                for _ in range(pending):
                    yield ab_pb2.BroadcastResponse(status=common_pb2.SUCCESS)
                pending = 0


def test_concurrent_broadcasts_are_pipelined_on_one_stream(
    server: tuple[grpc.Server, int],
) -> None:
    """A client that waited for each answer before sending the next envelope would
    never complete here: the orderer answers only after four envelopes arrive."""
    grpc_server, port = server
    ab_pb2_grpc.add_AtomicBroadcastServicer_to_server(BatchingOrderer(4), grpc_server)  # type: ignore[no-untyped-call]
    grpc_server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        client = GrpcBroadcastClient(channel, timeout=5)
        try:
            with futures.ThreadPoolExecutor(max_workers=4) as pool:
                answers = list(
                    pool.map(
                        lambda i: client.broadcast(common_pb2.Envelope(payload=b"%d" % i)),
                        range(4),
                    )
                )
            assert [a.status for a in answers] == [common_pb2.SUCCESS] * 4
        finally:
            client.close()


def test_broadcast_to_nobody_raises() -> None:
    with grpc.insecure_channel("127.0.0.1:1") as channel:
        client = GrpcBroadcastClient(channel, timeout=2)
        with pytest.raises(grpc.RpcError):
            client.broadcast(common_pb2.Envelope(payload=b"x"))
        client.close()


def test_endorser_client_calls_process_proposal(server: tuple[grpc.Server, int]) -> None:
    grpc_server, port = server
    world = make_world()
    ledger = MemoryLedger()
    ledger.commit(world.genesis(), [0], [])
    endorser = world.endorser(world.core_peer, ledger)
    peer_pb2_grpc.add_EndorserServicer_to_server(EndorserServicer(endorser), grpc_server)  # type: ignore[no-untyped-call]
    grpc_server.start()
    signed, _ = propose(world.alice, "Get", {"key": "k"})
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        response = GrpcEndorserClient(channel, timeout=5).process_proposal(signed)
    assert response.response.status == 200
    assert json.loads(response.response.payload) == {"key": "k", "value": None}


def test_endorsing_peers_from_config() -> None:
    config = make_world().bundle.config
    core, bank, regulator = config.application_orgs
    orgs = (
        dataclasses.replace(core, peers=(PeerEndpoint("peer0", "core", 7051, True),)),
        dataclasses.replace(bank, peers=(PeerEndpoint("peer0", "bank", 8051, True),)),
        dataclasses.replace(regulator, peers=(PeerEndpoint("peer0", "reg", 9051, False),)),
    )
    config = dataclasses.replace(config, application_orgs=orgs)
    assert endorsing_peers_from_config(config, exclude={"core:7051"}) == [
        RemotePeer("BankMSP", "bank:8051")
    ]
