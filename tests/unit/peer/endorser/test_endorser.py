"""The endorser with real certificates and signatures: valid proposals are endorsed
deterministically; every bad request is refused with a status and a named code."""

from __future__ import annotations

import json
import threading
from concurrent import futures

import grpc
import pytest

from chaincode.stub import Timestamp
from common import crypto, txutil
from common.policies import SignedData, evaluate
from peer.chaincodes import builtin_registry
from peer.deliver import BlockNotifier
from peer.endorser import endorser as endorser_module
from peer.endorser.endorser import ChannelSupport, Endorser, EndorserServicer
from peer.ledger import MemoryLedger, Namespace, TxId, TxWrites, Write
from protos.common import common_pb2
from protos.peer import chaincode_event_pb2, peer_pb2_grpc, proposal_pb2, proposal_response_pb2
from tests.support.consortium import make_org
from tests.unit.peer.endorser.world import (
    BENCH,
    CHANNEL,
    TIMESTAMP,
    World,
    make_world,
    order,
    propose,
)


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


@pytest.fixture
def ledger(world: World) -> MemoryLedger:
    ledger = MemoryLedger()
    genesis = world.genesis()
    ledger.commit(genesis, [0], [])
    seed = (Write(Namespace(BENCH), "k", b"v0"),)
    block = order(world, 1, genesis, [b"seed"])
    ledger.commit(block, [0], [TxWrites(0, TxId("seed"), Timestamp(1, 0), seed)])
    return ledger


def _status(response: proposal_response_pb2.ProposalResponse) -> tuple[int, str]:
    return response.response.status, response.response.message


def test_valid_invoke_is_endorsed_with_a_verifiable_signature(
    world: World, ledger: MemoryLedger
) -> None:
    signed, parsed = propose(world.alice, "ReadModifyWrite", {"key": "k", "value": "v1"})
    response = world.endorser(world.core_peer, ledger).process_proposal(signed)
    assert _status(response) == (200, "")
    assert json.loads(response.response.payload) == {"key": "k", "previous": "v0", "value": "v1"}
    endorsement = response.endorsement
    assert endorsement.endorser == world.core_peer.serialize()
    world.core_peer.identity.verify(
        txutil.endorsement_signed_bytes(response.payload, endorsement.endorser),
        endorsement.signature,
    )
    prp = proposal_response_pb2.ProposalResponsePayload.FromString(response.payload)
    assert prp.proposal_hash == parsed.hash
    action = proposal_pb2.ChaincodeAction.FromString(prp.extension)
    assert action.chaincode_id.name == BENCH
    assert action.chaincode_id.version == "1.0"
    assert action.response.status == 200
    assert action.results  # the read of k and the write of k


def test_two_endorsers_give_byte_identical_payloads(world: World, ledger: MemoryLedger) -> None:
    signed, _ = propose(world.alice, "Put", {"key": "a", "value": "1"})
    first = world.endorser(world.core_peer, ledger).process_proposal(signed)
    second = world.endorser(world.bank_peer, ledger).process_proposal(signed)
    assert first.payload == second.payload
    assert first.endorsement.endorser != second.endorsement.endorser
    signed_data = [
        SignedData(
            r.endorsement.endorser, r.payload + r.endorsement.endorser, r.endorsement.signature
        )
        for r in (first, second)
    ]
    policy = world.bundle.endorsement_policy(BENCH)
    assert evaluate(policy, signed_data, world.bundle.msp_manager).satisfied
    assert not evaluate(policy, signed_data[:1], world.bundle.msp_manager).satisfied


def test_event_is_in_the_response(world: World, ledger: MemoryLedger) -> None:
    signed, parsed = propose(world.alice, "Put", {"key": "a", "value": "1"})
    response = world.endorser(world.core_peer, ledger).process_proposal(signed)
    prp = proposal_response_pb2.ProposalResponsePayload.FromString(response.payload)
    action = proposal_pb2.ChaincodeAction.FromString(prp.extension)
    event = chaincode_event_pb2.ChaincodeEvent.FromString(action.events)
    assert (event.event_name, event.tx_id, event.chaincode_id) == ("Put", parsed.tx_id, BENCH)


def test_chaincode_error_is_500_with_its_code_and_no_endorsement(
    world: World, ledger: MemoryLedger
) -> None:
    signed, _ = propose(world.alice, "Fail", {"code": "INSUFFICIENT_AMOUNT", "message": "no"})
    response = world.endorser(world.core_peer, ledger).process_proposal(signed)
    assert _status(response) == (500, "INSUFFICIENT_AMOUNT: no")
    assert not response.HasField("endorsement")
    assert not response.payload


def test_bad_argument_is_a_chaincode_error(world: World, ledger: MemoryLedger) -> None:
    signed, _ = propose(world.alice, "Put", {"key": ""})
    status, message = _status(world.endorser(world.core_peer, ledger).process_proposal(signed))
    assert status == 500
    assert message.startswith("BAD_ARGUMENT: ")


def _refusal(endorser: Endorser, signed: proposal_pb2.SignedProposal) -> tuple[int, str]:
    response = endorser.process_proposal(signed)
    assert not response.HasField("endorsement")
    status, message = _status(response)
    return status, message.split(":", 1)[0]


def test_bad_signature_is_refused(world: World, ledger: MemoryLedger) -> None:
    signed, _ = propose(world.alice, "Put", {"key": "a", "value": "1"})
    signed.signature = world.bob.sign(signed.proposal_bytes)  # someone else's signature
    assert _refusal(world.endorser(world.core_peer, ledger), signed) == (403, "BAD_SIGNATURE")
    signed.signature = b"\x30\x00"
    assert _refusal(world.endorser(world.core_peer, ledger), signed) == (403, "BAD_SIGNATURE")


def test_creator_of_an_unknown_org_is_refused(world: World, ledger: MemoryLedger) -> None:
    mallory = make_org("CoreMSP", "core").member("mallory", "client")  # foreign CA, same mspid
    signed, _ = propose(mallory, "Put", {"key": "a", "value": "1"})
    assert _refusal(world.endorser(world.core_peer, ledger), signed) == (403, "CREATOR_REJECTED")
    stranger = make_org("StrangerMSP", "supplier").member("s", "client")
    signed, _ = propose(stranger, "Put", {"key": "a", "value": "1"})
    assert _refusal(world.endorser(world.core_peer, ledger), signed) == (403, "CREATOR_REJECTED")


def test_mismatched_txid_is_refused(world: World, ledger: MemoryLedger) -> None:
    proposal, _ = txutil.build_proposal(
        "trade", BENCH, [b"Get", b'{"key":"k"}'], world.alice.serialize(), timestamp=TIMESTAMP
    )
    header = common_pb2.Header.FromString(proposal.header)
    channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
    channel_header.tx_id = "00" * 32
    header.channel_header = channel_header.SerializeToString()
    proposal.header = header.SerializeToString()
    signed = txutil.sign_proposal(proposal, world.alice)
    assert _refusal(world.endorser(world.core_peer, ledger), signed) == (400, "BAD_PROPOSAL_TXID")


def test_unknown_channel_chaincode_and_function_are_refused(
    world: World, ledger: MemoryLedger
) -> None:
    endorser = world.endorser(world.core_peer, ledger)
    signed, _ = propose(world.alice, "Get", {"key": "k"}, channel="other")
    assert _refusal(endorser, signed) == (404, "CHANNEL_NOT_FOUND")
    signed, _ = propose(world.alice, "Get", {"key": "k"}, chaincode="nope")
    assert _refusal(endorser, signed) == (404, "CHAINCODE_NOT_FOUND")
    signed, _ = propose(world.alice, "Nope", {"key": "k"})
    assert _refusal(endorser, signed) == (404, "UNKNOWN_FUNCTION")


def test_malformed_proposal_is_refused(world: World, ledger: MemoryLedger) -> None:
    endorser = world.endorser(world.core_peer, ledger)
    garbage = proposal_pb2.SignedProposal(proposal_bytes=b"\xff\xff", signature=b"")
    assert _refusal(endorser, garbage)[0] == 400


def test_regulator_may_evaluate_but_not_submit(world: World, ledger: MemoryLedger) -> None:
    endorser = world.endorser(world.core_peer, ledger)
    signed, _ = propose(world.reggie, "Put", {"key": "a", "value": "1"})
    assert _refusal(endorser, signed) == (403, "ACCESS_DENIED")
    signed, _ = propose(world.reggie, "Get", {"key": "k"})
    response = endorser.process_proposal(signed)
    assert _status(response) == (200, "")
    assert json.loads(response.response.payload) == {"key": "k", "value": "v0"}


def test_txid_already_in_the_ledger_is_refused(world: World, ledger: MemoryLedger) -> None:
    nonce = crypto.new_nonce()
    signed, parsed = propose(world.alice, "Put", {"key": "a", "value": "1"}, nonce=nonce)
    envelope = txutil.assemble_transaction(
        parsed,
        [
            world.endorser(p, ledger).process_proposal(signed)
            for p in (world.core_peer, world.bank_peer)
        ],
        world.alice,
    )
    previous = ledger.block(ledger.height() - 1)
    assert previous is not None
    ledger.commit(order(world, ledger.height(), previous, [envelope.SerializeToString()]), [0], [])
    replay, _ = propose(world.alice, "Put", {"key": "a", "value": "1"}, nonce=nonce)
    assert _refusal(world.endorser(world.core_peer, ledger), replay) == (400, "DUPLICATE_TXID")


def test_grpc_servicer(world: World, ledger: MemoryLedger) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    peer_pb2_grpc.add_EndorserServicer_to_server(
        EndorserServicer(world.endorser(world.core_peer, ledger)), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = peer_pb2_grpc.EndorserStub(channel)
            signed, _ = propose(world.alice, "Get", {"key": "k"})
            assert stub.ProcessProposal(signed, timeout=10).response.status == 200
            signed, _ = propose(world.alice, "Get", {"key": "k"}, channel="other")
            assert stub.ProcessProposal(signed, timeout=10).response.status == 404
    finally:
        server.stop(None).wait()


def test_endorsement_waits_for_the_gateways_ledger_height(
    world: World, ledger: MemoryLedger
) -> None:
    """A gateway at height 3 asks this peer (height 2) to endorse: the simulation
    waits for block 2 and so reads the value it wrote, not the older one."""
    endorser = world.endorser(world.core_peer, ledger)
    signed, _ = propose(world.alice, "ReadModifyWrite", {"key": "k", "value": "v2"})
    previous = ledger.block(1)
    assert previous is not None
    block = order(world, 2, previous, [b"update"])
    update = (Write(Namespace(BENCH), "k", b"v1"),)
    with futures.ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(endorser.process_proposal, signed, ledger.height() + 1)
        ledger.commit(block, [0], [TxWrites(0, TxId("update"), Timestamp(2, 0), update)])
        response = pending.result(timeout=5)
    assert _status(response) == (200, "")
    assert json.loads(response.response.payload)["previous"] == "v1"


def test_min_height_hint_travels_as_call_metadata(world: World, ledger: MemoryLedger) -> None:
    seen: list[int] = []

    class Recorder:
        def process_proposal(
            self, signed: proposal_pb2.SignedProposal, /, min_height: int = 0
        ) -> proposal_response_pb2.ProposalResponse:
            seen.append(min_height)
            return proposal_response_pb2.ProposalResponse()

    from peer.gateway import GrpcEndorserClient

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    port = server.add_insecure_port("127.0.0.1:0")
    peer_pb2_grpc.add_EndorserServicer_to_server(EndorserServicer(Recorder()), server)  # type: ignore[no-untyped-call]
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            client = GrpcEndorserClient(channel, timeout=5)
            signed, _ = propose(world.alice, "Get", {"key": "k"})
            client.process_proposal(signed, 7)
            client.process_proposal(signed)
    finally:
        server.stop(grace=None).wait()
    assert seen == [7, 0]


class _RecordingWatch(BlockNotifier):
    """A `BlockNotifier` that tells the test when somebody waits on it."""

    def __init__(self, ledger: MemoryLedger) -> None:
        super().__init__(ledger)
        self.waiting = threading.Event()

    def wait_for_height(self, height: int, timeout: float) -> bool:
        self.waiting.set()
        return super().wait_for_height(height, timeout)


def test_a_proposal_with_a_min_height_waits_for_that_block(
    world: World, ledger: MemoryLedger
) -> None:
    watch = _RecordingWatch(ledger)
    endorser = Endorser(
        world.core_peer, builtin_registry(), {CHANNEL: ChannelSupport(world.bundle, ledger, watch)}
    )
    signed, _ = propose(world.alice, "ReadModifyWrite", {"key": "k", "value": "v2"})
    with futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(endorser.process_proposal, signed, ledger.height() + 1)
        assert watch.waiting.wait(5)
        update = (Write(Namespace(BENCH), "k", b"v1"),)
        seeded = order(world, 1, world.genesis(), [b"seed"])  # the fixture's block 1
        block = order(world, 2, seeded, [b"update"])
        ledger.commit(block, [0], [TxWrites(0, TxId("update"), Timestamp(2, 0), update)])
        watch.wake_all()
        response = pending.result(timeout=5)
    assert _status(response) == (200, "")
    assert json.loads(response.response.payload)["previous"] == "v1"  # the new block's state


def test_the_min_height_wait_is_bounded(
    world: World, ledger: MemoryLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(endorser_module, "MIN_HEIGHT_WAIT_S", 0.05)
    signed, _ = propose(world.alice, "ReadModifyWrite", {"key": "k", "value": "v2"})
    response = world.endorser(world.core_peer, ledger).process_proposal(signed, 1_000)
    assert _status(response) == (200, "")
    assert json.loads(response.response.payload)["previous"] == "v0"  # the state it has
