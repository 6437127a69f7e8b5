"""The peer's `protos.Deliver` service through a real in-process gRPC server: blocks
from oldest/newest/specified, waiting for new blocks, FAIL_IF_NOT_READY, refusals
(non-member, bad signature, unknown channel, stale request), filtered blocks with
codes and events, and DeliverWithPrivateData's status."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from common.msp import SigningIdentity
from common.txutil import build_seek_envelope, seek_info
from peer.committer import Committer
from peer.deliver import BlockNotifier, DeliverChannel, DeliverService
from peer.endorser.endorser import Endorser
from peer.ledger import LevelLedger, open_channel_ledger
from protos.common import common_pb2
from protos.orderer import ab_pb2
from protos.peer import events_pb2, events_pb2_grpc
from protos.peer import transaction_pb2 as codes
from tests.support.consortium import make_org
from tests.unit.peer.endorser.world import CHANNEL, World, endorse_tx, make_world, order


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


@dataclass
class Served:
    world: World
    ledger: LevelLedger
    committer: Committer
    stub: events_pb2_grpc.DeliverStub
    tx_ids: list[str]

    def next_block(self, entries: list[bytes]) -> None:
        previous = self.ledger.block(self.ledger.height() - 1)
        assert previous is not None
        self.committer.commit_block(order(self.world, self.ledger.height(), previous, entries))

    def endorsers(self) -> list[Endorser]:
        return [
            self.world.endorser(self.world.core_peer, self.ledger),
            self.world.endorser(self.world.bank_peer, self.ledger),
        ]


@pytest.fixture
def served(world: World, tmp_path: Path) -> Iterator[Served]:
    ledger = open_channel_ledger(tmp_path, CHANNEL)
    notifier = BlockNotifier(ledger)
    committer = Committer(ledger, world.bundle, listeners=[notifier])
    service = DeliverService({CHANNEL: DeliverChannel(world.bundle, ledger, notifier)})
    server = grpc.server(futures.ThreadPoolExecutor(8))
    service.add_to_server(server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    state = Served(world, ledger, committer, events_pb2_grpc.DeliverStub(channel), [])  # type: ignore[no-untyped-call]
    try:
        committer.commit_block(world.genesis())
        endorsers = state.endorsers()
        put, put_id, _ = endorse_tx(world.alice, endorsers, "Put", {"key": "a", "value": "1"})
        rmw1, id1, _ = endorse_tx(
            world.alice, endorsers, "ReadModifyWrite", {"key": "b", "value": "x"}
        )
        rmw2, id2, _ = endorse_tx(
            world.bob, endorsers, "ReadModifyWrite", {"key": "b", "value": "y"}
        )
        state.next_block([put, rmw1, rmw2])
        state.tx_ids = [put_id, id1, id2]
        yield state
    finally:
        service.close()
        channel.close()
        server.stop(None).wait()
        committer.close()
        ledger.close()


def _request(
    signer: SigningIdentity,
    info: ab_pb2.SeekInfo,
    *,
    channel: str = CHANNEL,
    timestamp: tuple[int, int] | None = None,
) -> common_pb2.Envelope:
    return build_seek_envelope(channel, info, signer, timestamp=timestamp)


def _position(kind: str, number: int = 0) -> ab_pb2.SeekPosition:
    if kind == "oldest":
        return ab_pb2.SeekPosition(oldest=ab_pb2.SeekOldest())
    if kind == "newest":
        return ab_pb2.SeekPosition(newest=ab_pb2.SeekNewest())
    return ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=number))


def _deliver(served: Served, envelope: common_pb2.Envelope) -> list[events_pb2.DeliverResponse]:
    return list(served.stub.Deliver(iter([envelope]), timeout=10))


def test_from_oldest_to_newest_sends_the_stored_blocks(served: Served) -> None:
    info = ab_pb2.SeekInfo(start=_position("oldest"), stop=_position("newest"))
    responses = _deliver(served, _request(served.world.alice, info))
    assert [r.WhichOneof("Type") for r in responses] == ["block", "block", "status"]
    assert responses[-1].status == common_pb2.SUCCESS
    for number, response in enumerate(responses[:2]):
        assert response.block.SerializeToString() == served.ledger.block_bytes(number)
    # The regulator reads every channel (a Reader, not a Writer).
    assert _deliver(served, _request(served.world.reggie, info))[-1].status == common_pb2.SUCCESS


def test_newest_and_specified(served: Served) -> None:
    newest = ab_pb2.SeekInfo(start=_position("newest"), stop=_position("newest"))
    responses = _deliver(served, _request(served.world.alice, newest))
    assert [r.block.header.number for r in responses[:-1]] == [1]
    specified = ab_pb2.SeekInfo(start=_position("specified", 1), stop=_position("specified", 1))
    responses = _deliver(served, _request(served.world.bob, specified))
    assert [r.block.header.number for r in responses[:-1]] == [1]
    assert responses[-1].status == common_pb2.SUCCESS
    backwards = ab_pb2.SeekInfo(start=_position("specified", 1), stop=_position("specified", 0))
    assert _deliver(served, _request(served.world.bob, backwards))[-1].status == (
        common_pb2.BAD_REQUEST
    )


def test_fail_if_not_ready(served: Served) -> None:
    info = seek_info(1, 3, block_until_ready=False)
    responses = _deliver(served, _request(served.world.alice, info))
    assert [r.block.header.number for r in responses[:-1]] == [1]
    assert responses[-1].status == common_pb2.NOT_FOUND


def test_block_until_ready_waits_for_the_next_commit(served: Served) -> None:
    received: list[events_pb2.DeliverResponse] = []
    call = served.stub.Deliver(iter([_request(served.world.alice, seek_info(2, None))]))

    def read() -> None:
        for response in call:
            received.append(response)
            if len(received) == 2:
                call.cancel()
                return

    reader = threading.Thread(target=read)
    reader.start()
    entry = endorse_tx(served.world.alice, served.endorsers(), "Put", {"key": "c", "value": "1"})[0]
    served.next_block([entry])
    entry = endorse_tx(served.world.alice, served.endorsers(), "Put", {"key": "d", "value": "1"})[0]
    served.next_block([entry])
    reader.join(10)
    assert not reader.is_alive()
    assert [r.block.header.number for r in received] == [2, 3]


def test_refusals(served: Served) -> None:
    world = served.world
    info = seek_info(0, 0)
    outsider = make_org("OutsiderMSP", "supplier").member("eve", "client")
    assert _deliver(served, _request(outsider, info))[-1].status == common_pb2.FORBIDDEN
    forged = _request(world.alice, info)
    forged.signature = world.bob.sign(forged.payload)
    assert _deliver(served, forged)[-1].status == common_pb2.FORBIDDEN
    unknown = _request(world.alice, info, channel="nochannel")
    assert _deliver(served, unknown)[-1].status == common_pb2.NOT_FOUND
    stale = _request(world.alice, info, timestamp=(1_000_000_000, 0))
    assert _deliver(served, stale)[-1].status == common_pb2.BAD_REQUEST
    garbage = common_pb2.Envelope(payload=b"\xff\xff", signature=b"")
    assert _deliver(served, garbage)[-1].status == common_pb2.BAD_REQUEST
    responses = list(served.stub.DeliverWithPrivateData(iter([_request(world.alice, info)])))
    assert [r.status for r in responses] == [common_pb2.NOT_IMPLEMENTED]


def test_filtered_blocks_carry_codes_and_events_without_payload(served: Served) -> None:
    info = seek_info(0, 1)
    responses = list(served.stub.DeliverFiltered(iter([_request(served.world.alice, info)])))
    assert responses[-1].status == common_pb2.SUCCESS
    genesis, block = (r.filtered_block for r in responses[:-1])
    assert (genesis.channel_id, genesis.number) == (CHANNEL, 0)
    assert [t.type for t in genesis.filtered_transactions] == [common_pb2.CONFIG]
    assert (block.channel_id, block.number) == (CHANNEL, 1)
    txs = block.filtered_transactions
    assert [t.txid for t in txs] == served.tx_ids
    assert [t.type for t in txs] == [common_pb2.ENDORSER_TRANSACTION] * 3
    assert [t.tx_validation_code for t in txs] == [
        codes.VALID,
        codes.VALID,
        codes.MVCC_READ_CONFLICT,
    ]
    event = txs[0].transaction_actions.chaincode_actions[0].chaincode_event
    assert (event.chaincode_id, event.tx_id, event.event_name) == ("bench", served.tx_ids[0], "Put")
    assert event.payload == b""  # Fabric strips the payload from filtered events
