"""The Gateway service over real endorsers (CoreMSP local, BankMSP remote), a real
committer and fake orderers, through a real gRPC server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from chaincode.stub import Timestamp
from common import txutil
from common.msp import SigningIdentity
from peer.gateway import BroadcastClient, RemotePeer
from peer.ledger import MemoryLedger, Namespace, TxId, TxWrites, Write
from peer.validator.validator import BlockValidator
from protos.common import common_pb2
from protos.gateway import gateway_pb2
from protos.orderer import ab_pb2
from protos.peer import transaction_pb2
from tests.unit.peer.endorser.world import BENCH, CHANNEL, World, make_world, order, propose
from tests.unit.peer.gateway.harness import (
    BANK_ADDRESS,
    CORE_ADDRESS,
    FakeOrderer,
    Node,
    Unreachable,
    code_of,
    error_details,
    gateway_node,
    message_of,
    sign_prepared,
)


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


@pytest.fixture
def node(world: World) -> Iterator[Node]:
    with gateway_node(world) as node:
        yield node


def _endorse(
    node: Node,
    signer: SigningIdentity,
    fn: str,
    args: dict[str, str],
    endorsing_organizations: Sequence[str] = (),
) -> tuple[gateway_pb2.EndorseResponse, txutil.ParsedProposal]:
    signed, parsed = propose(signer, fn, args)
    request = gateway_pb2.EndorseRequest(
        transaction_id=parsed.tx_id,
        channel_id=CHANNEL,
        proposed_transaction=signed,
        endorsing_organizations=endorsing_organizations,
    )
    return node.stub.Endorse(request, timeout=10), parsed


def _submit(node: Node, signer: SigningIdentity, fn: str, args: dict[str, str]) -> str:
    response, parsed = _endorse(node, signer, fn, args)
    envelope = sign_prepared(signer, response.prepared_transaction)
    node.stub.Submit(
        gateway_pb2.SubmitRequest(
            transaction_id=parsed.tx_id, channel_id=CHANNEL, prepared_transaction=envelope
        ),
        timeout=10,
    )
    return parsed.tx_id


def _commit_status_request(
    signer: SigningIdentity, tx_id: str, *, forge_with: SigningIdentity | None = None
) -> gateway_pb2.SignedCommitStatusRequest:
    request = gateway_pb2.CommitStatusRequest(
        transaction_id=tx_id, channel_id=CHANNEL, identity=signer.serialize()
    ).SerializeToString()
    return gateway_pb2.SignedCommitStatusRequest(
        request=request, signature=(forge_with or signer).sign(request)
    )


# ------------------------------------------------------------------ Evaluate


def test_evaluate_runs_on_the_local_peer(node: Node) -> None:
    _submit(node, node.world.alice, "Put", {"key": "k", "value": "v"})
    node.commit([node.orderers["orderer0:7050"].received[-1].SerializeToString()])
    signed, parsed = propose(node.world.bob, "Get", {"key": "k"})
    response = node.stub.Evaluate(
        gateway_pb2.EvaluateRequest(
            transaction_id=parsed.tx_id, channel_id=CHANNEL, proposed_transaction=signed
        ),
        timeout=10,
    )
    assert response.result.status == 200
    assert json.loads(response.result.payload) == {"key": "k", "value": "v"}


def test_evaluate_falls_back_to_another_org_when_there_is_no_local_endorser(
    world: World,
) -> None:
    down = Unreachable()
    with gateway_node(
        world, local=False, extra_remotes=[(RemotePeer("BankMSP", "down:7051"), down)]
    ) as node:
        signed, _ = propose(world.alice, "Get", {"key": "nothing"})
        response = node.stub.Evaluate(
            gateway_pb2.EvaluateRequest(proposed_transaction=signed), timeout=10
        )
    assert json.loads(response.result.payload) == {"key": "nothing", "value": None}
    assert down.calls == 1


def test_evaluate_chaincode_error_carries_an_error_detail(node: Node) -> None:
    signed, _ = propose(node.world.alice, "Fail", {"code": "NO_FUNDS", "message": "too poor"})
    with pytest.raises(grpc.RpcError) as caught:
        node.stub.Evaluate(gateway_pb2.EvaluateRequest(proposed_transaction=signed), timeout=10)
    error = caught.value
    assert code_of(error) is grpc.StatusCode.UNKNOWN
    assert "NO_FUNDS: too poor" in message_of(error)
    [detail] = error_details(error)
    assert (detail.address, detail.msp_id) == (CORE_ADDRESS, "CoreMSP")
    assert detail.message == "chaincode response 500, NO_FUNDS: too poor"


def test_unknown_channel_and_malformed_proposal(node: Node) -> None:
    signed, _ = propose(node.world.alice, "Get", {"key": "k"}, channel="nochannel")
    with pytest.raises(grpc.RpcError) as caught:
        node.stub.Evaluate(gateway_pb2.EvaluateRequest(proposed_transaction=signed), timeout=10)
    assert code_of(caught.value) is grpc.StatusCode.NOT_FOUND
    garbage = gateway_pb2.EndorseRequest()
    garbage.proposed_transaction.proposal_bytes = b"\xff\xff"
    with pytest.raises(grpc.RpcError) as caught:
        node.stub.Endorse(garbage, timeout=10)
    assert code_of(caught.value) is grpc.StatusCode.INVALID_ARGUMENT


# ------------------------------------------------------------------- Endorse


def test_endorse_collects_both_orgs_and_the_transaction_validates(node: Node) -> None:
    world = node.world
    response, parsed = _endorse(node, world.alice, "Put", {"key": "a", "value": "1"})
    prepared = response.prepared_transaction
    assert not prepared.signature  # the client signs it
    envelope = sign_prepared(world.alice, prepared)
    tx = txutil.parse_transaction(envelope.SerializeToString())
    assert tx.tx_id == parsed.tx_id
    assert {e.endorser for e in tx.endorsements} == {
        world.core_peer.serialize(),
        world.bank_peer.serialize(),
    }
    # The endorsement policy AND(Core.peer, Bank.peer) holds for the real validator.
    previous = node.ledger.block(0)
    assert previous is not None
    block = order(world, 1, previous, [envelope.SerializeToString()])
    validator = BlockValidator(world.bundle)
    try:
        assert validator.validate(block, node.ledger).codes == (transaction_pb2.VALID,)
    finally:
        validator.close()


def test_endorsing_organizations_are_used_exactly(node: Node) -> None:
    response, _ = _endorse(
        node,
        node.world.alice,
        "Put",
        {"key": "a", "value": "1"},
        endorsing_organizations=["BankMSP"],
    )
    envelope = sign_prepared(node.world.alice, response.prepared_transaction)
    tx = txutil.parse_transaction(envelope.SerializeToString())
    assert [e.endorser for e in tx.endorsements] == [node.world.bank_peer.serialize()]


def test_endorse_tries_another_peer_of_the_org(world: World) -> None:
    down = Unreachable()
    with gateway_node(world, extra_remotes=[(RemotePeer("BankMSP", "down:7051"), down)]) as node:
        response, _ = _endorse(node, world.alice, "Put", {"key": "a", "value": "1"})
    assert down.calls == 1
    assert response.prepared_transaction.payload


def test_disagreeing_endorsers_are_named(world: World) -> None:
    core_ledger, bank_ledger = MemoryLedger(), MemoryLedger()
    for ledger, value in ((core_ledger, b"core"), (bank_ledger, b"bank")):
        genesis = world.genesis()
        ledger.commit(genesis, [0], [])
        seed = (Write(Namespace(BENCH), "k", value),)
        block = order(world, 1, genesis, [b"seed"])
        ledger.commit(block, [0], [TxWrites(0, TxId("seed"), Timestamp(1, 0), seed)])
    with (
        gateway_node(world, ledger=core_ledger, bank_ledger=bank_ledger) as node,
        pytest.raises(grpc.RpcError) as caught,
    ):
        _endorse(node, world.alice, "ReadModifyWrite", {"key": "k", "value": "x"})
    error = caught.value
    assert code_of(error) is grpc.StatusCode.ABORTED
    assert "ProposalResponsePayloads do not match" in message_of(error)
    assert BANK_ADDRESS in message_of(error)
    [detail] = error_details(error)
    assert (detail.address, detail.msp_id) == (BANK_ADDRESS, "BankMSP")


def test_endorse_chaincode_error_is_aborted_with_detail(node: Node) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _endorse(node, node.world.alice, "Fail", {"code": "LIMIT", "message": "over the cap"})
    error = caught.value
    assert code_of(error) is grpc.StatusCode.ABORTED
    [detail] = error_details(error)
    assert detail.address == CORE_ADDRESS
    assert detail.message == "chaincode response 500, LIMIT: over the cap"


def test_regulator_may_not_endorse_a_write(node: Node) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _endorse(node, node.world.reggie, "Put", {"key": "a", "value": "1"})
    error = caught.value
    assert code_of(error) is grpc.StatusCode.PERMISSION_DENIED
    assert "RegulatorMSP" in message_of(error)
    assert "may not submit (write)" in message_of(error)
    [detail] = error_details(error)
    assert detail.msp_id == "CoreMSP"
    # ... but reading is allowed.
    signed, _ = propose(node.world.reggie, "Get", {"key": "a"})
    node.stub.Evaluate(gateway_pb2.EvaluateRequest(proposed_transaction=signed), timeout=10)


def test_endorse_with_no_endorser_for_a_required_org_is_unavailable(world: World) -> None:
    with gateway_node(world, local=False) as node, pytest.raises(grpc.RpcError) as caught:
        _endorse(node, world.alice, "Put", {"key": "a", "value": "1"})
    assert code_of(caught.value) is grpc.StatusCode.UNAVAILABLE


# -------------------------------------------------------------------- Submit


def test_submit_fails_over_to_the_next_orderer(world: World) -> None:
    busy = FakeOrderer(answers=[common_pb2.SERVICE_UNAVAILABLE])
    down, good = Unreachable(), FakeOrderer()
    orderers: list[tuple[str, BroadcastClient]] = [
        ("o0:7050", busy),
        ("o1:7050", down),
        ("o2:7050", good),
    ]
    with gateway_node(world, orderers=orderers) as node:
        tx_id = _submit(node, world.alice, "Put", {"key": "a", "value": "1"})
        assert down.calls == 1
        assert busy.received == []
        [envelope] = good.received
        assert txutil.parse_envelope_header(envelope.SerializeToString()).channel_header.tx_id == (
            tx_id
        )
        # The next submit goes to the first orderer again, which now accepts.
        _submit(node, world.alice, "Put", {"key": "b", "value": "1"})
        assert len(busy.received) == 1


def test_submit_with_no_orderer_accepting(world: World) -> None:
    refusing = FakeOrderer(answers=[common_pb2.BAD_REQUEST])
    with gateway_node(world, orderers=[("o0:7050", Unreachable())]) as node:
        with pytest.raises(grpc.RpcError) as caught:
            _submit(node, world.alice, "Put", {"key": "a", "value": "1"})
        assert code_of(caught.value) is grpc.StatusCode.UNAVAILABLE
        [detail] = error_details(caught.value)
        assert detail.address == "o0:7050"
    with gateway_node(world, orderers=[("o0:7050", refusing)]) as node:
        with pytest.raises(grpc.RpcError) as caught:
            _submit(node, world.alice, "Put", {"key": "a", "value": "1"})
        assert code_of(caught.value) is grpc.StatusCode.ABORTED
        assert "BAD_REQUEST" in message_of(caught.value)


def test_submit_refused_by_the_writers_policy_is_permission_denied(world: World) -> None:
    forbidding = FakeOrderer(answers=[common_pb2.FORBIDDEN])
    with gateway_node(world, orderers=[("o0:7050", forbidding)]) as node:
        with pytest.raises(grpc.RpcError) as caught:
            _submit(node, world.alice, "Put", {"key": "a", "value": "1"})
        assert code_of(caught.value) is grpc.StatusCode.PERMISSION_DENIED
        assert "FORBIDDEN" in message_of(caught.value)


# -------------------------------------------------------------- CommitStatus


def test_commit_status_waits_for_the_commit(node: Node) -> None:
    world = node.world
    tx_id = _submit(node, world.alice, "Put", {"key": "a", "value": "1"})
    request = _commit_status_request(world.alice, tx_id)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(node.stub.CommitStatus, request, timeout=10)
        threading.Event().wait(0.2)
        assert not pending.done()
        number = node.commit([node.orderers["orderer0:7050"].received[-1].SerializeToString()])
        response = pending.result(timeout=10)
    assert (response.result, response.block_number) == (transaction_pb2.VALID, number)
    # Already committed: answered at once, also to a reader of another org.
    again = node.stub.CommitStatus(_commit_status_request(world.reggie, tx_id), timeout=10)
    assert again.block_number == number


def test_commit_status_with_a_bad_signature_is_denied(node: Node) -> None:
    world = node.world
    request = _commit_status_request(world.alice, "some-tx", forge_with=world.bob)
    with pytest.raises(grpc.RpcError) as caught:
        node.stub.CommitStatus(request, timeout=10)
    assert code_of(caught.value) is grpc.StatusCode.PERMISSION_DENIED


def test_commit_status_reader_check_is_cached_but_signatures_are_not(node: Node) -> None:
    """The Readers outcome is cached per signer class; a forged request from the
    same identity right after an accepted one is still denied."""
    world = node.world
    tx_id = _submit(node, world.alice, "Put", {"key": "r", "value": "1"})
    node.commit([node.orderers["orderer0:7050"].received[-1].SerializeToString()])
    for _ in range(2):
        assert node.stub.CommitStatus(_commit_status_request(world.alice, tx_id), timeout=10)
    forged = _commit_status_request(world.alice, tx_id, forge_with=world.bob)
    with pytest.raises(grpc.RpcError) as caught:
        node.stub.CommitStatus(forged, timeout=10)
    assert code_of(caught.value) is grpc.StatusCode.PERMISSION_DENIED
    assert "signature verification failed" in message_of(caught.value)


def test_commit_status_times_out_with_the_deadline(node: Node) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        node.stub.CommitStatus(_commit_status_request(node.world.alice, "never"), timeout=0.5)
    assert code_of(caught.value) is grpc.StatusCode.DEADLINE_EXCEEDED


# ----------------------------------------------------------- ChaincodeEvents


def _events_request(
    signer: SigningIdentity,
    *,
    start: int | None = None,
    after: str = "",
    forge_with: SigningIdentity | None = None,
) -> gateway_pb2.SignedChaincodeEventsRequest:
    inner = gateway_pb2.ChaincodeEventsRequest(
        channel_id=CHANNEL,
        chaincode_id=BENCH,
        identity=signer.serialize(),
        after_transaction_id=after,
    )
    if start is not None:
        inner.start_position.CopyFrom(
            ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=start))
        )
    data = inner.SerializeToString()
    return gateway_pb2.SignedChaincodeEventsRequest(
        request=data, signature=(forge_with or signer).sign(data)
    )


def test_chaincode_events_resume_from_a_block_and_follow_new_ones(node: Node) -> None:
    world = node.world
    received = node.orderers["orderer0:7050"].received
    ids = []
    for keys in (["a"], ["b", "c"], ["d"]):
        for key in keys:
            ids.append(_submit(node, world.alice, "Put", {"key": key, "value": "1"}))
        node.commit([e.SerializeToString() for e in received[-len(keys) :]])
    # Blocks 1: a; 2: b, c; 3: d. Resume in block 2 after b's transaction.
    call = node.stub.ChaincodeEvents(_events_request(world.bob, start=2, after=ids[1]), timeout=10)
    try:
        first = next(call)
        assert first.block_number == 2
        assert [(e.tx_id, e.event_name, e.payload) for e in first.events] == [(ids[2], "Put", b"c")]
        assert next(call).block_number == 3
        # A block committed while the stream is open arrives too.
        tx_id = _submit(node, world.alice, "Put", {"key": "e", "value": "1"})
        node.commit([received[-1].SerializeToString()])
        live = next(call)
        assert (live.block_number, [e.tx_id for e in live.events]) == (4, [tx_id])
        assert live.events[0].chaincode_id == BENCH
    finally:
        call.cancel()


def test_chaincode_events_need_a_valid_signature(node: Node) -> None:
    call = node.stub.ChaincodeEvents(
        _events_request(node.world.alice, start=0, forge_with=node.world.bob), timeout=10
    )
    with pytest.raises(grpc.RpcError) as caught:
        next(call)
    assert code_of(caught.value) is grpc.StatusCode.PERMISSION_DENIED


def test_error_status_fits_in_a_clients_metadata_limit() -> None:
    """A long reason (e.g. a policy evaluation naming every signer) is truncated, so
    the status reaches the client instead of being dropped as oversize trailers."""
    from peer.gateway.errors import MAX_DETAILS, EndpointError, GatewayError

    reason = "Writers policy not satisfied: " + "x" * 20_000
    error = GatewayError(
        grpc.StatusCode.PERMISSION_DENIED,
        reason,
        [EndpointError(f"peer{i}:7051", "CoreMSP", reason) for i in range(10)],
    )
    status = error.to_status()
    size = sum(len(k) + len(v) for k, v in status.trailing_metadata) + len(status.details)
    assert size < 8192
    assert status.details.startswith("Writers policy not satisfied")
    assert f"and {10 - MAX_DETAILS} more" in status.details
