"""`scf.EndorserBatch/ProcessProposals`: each proposal answered as ProcessProposal
answers it, in request order; items fail alone; the min-height wait is per batch;
the size bound."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from chaincode.stub import Timestamp
from peer.endorser.batch import EndorserBatchServicer
from peer.endorser.endorser import MIN_HEIGHT_WAIT_S
from peer.ledger import MemoryLedger, Namespace, TxId, TxWrites, Write
from protos.peer import proposal_pb2, proposal_response_pb2
from protos.scf import batch_pb2, batch_pb2_grpc
from tests.unit.peer.endorser.world import BENCH, World, make_world, order, propose


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


def _serve(servicer: EndorserBatchServicer) -> Iterator[batch_pb2_grpc.EndorserBatchStub]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    batch_pb2_grpc.add_EndorserBatchServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield batch_pb2_grpc.EndorserBatchStub(channel)  # type: ignore[no-untyped-call]
    finally:
        server.stop(grace=None).wait()


def _outcome(response: proposal_response_pb2.ProposalResponse) -> tuple[int, str, bytes]:
    """What must match the single call: status, message (its code), payload."""
    return (
        response.response.status,
        response.response.message.split(":", 1)[0],
        response.payload,
    )


def test_each_proposal_is_answered_as_process_proposal_answers_it_in_order(
    world: World, ledger: MemoryLedger
) -> None:
    endorser = world.endorser(world.core_peer, ledger)
    forged, _ = propose(world.alice, "Put", {"key": "a", "value": "1"})
    forged.signature = world.bob.sign(forged.proposal_bytes)
    proposals = [
        propose(world.alice, "ReadModifyWrite", {"key": "k", "value": "v1"})[0],
        propose(world.alice, "Get", {"key": "k"}, channel="other")[0],
        forged,
        propose(world.reggie, "Put", {"key": "a", "value": "1"})[0],
        propose(world.alice, "Fail", {"code": "INSUFFICIENT_AMOUNT", "message": "no"})[0],
        propose(world.alice, "Get", {"key": "k"})[0],
    ]
    singles = [endorser.process_proposal(p) for p in proposals]
    for stub in _serve(EndorserBatchServicer(endorser)):
        reply = stub.ProcessProposals(batch_pb2.ProposalBatch(proposals=proposals), timeout=10)
    assert [_outcome(r) for r in reply.responses] == [_outcome(r) for r in singles]
    assert [r.response.status for r in reply.responses] == [200, 404, 403, 403, 500, 200]
    assert json.loads(reply.responses[5].response.payload) == {"key": "k", "value": "v0"}
    endorsement = reply.responses[0].endorsement
    assert endorsement.endorser == world.core_peer.serialize()


class Recorder:
    """Answers each proposal with its own bytes as payload; records the min_height
    each got; raises for proposal bytes `b"boom"`."""

    def __init__(self) -> None:
        self.heights: list[int] = []

    def process_proposal(
        self, signed: proposal_pb2.SignedProposal, /, min_height: int = 0
    ) -> proposal_response_pb2.ProposalResponse:
        self.heights.append(min_height)
        if signed.proposal_bytes == b"boom":
            raise RuntimeError("endorser bug")
        return proposal_response_pb2.ProposalResponse(
            response=proposal_response_pb2.Response(status=200, payload=signed.proposal_bytes)
        )


def _batch(*items: bytes, height: int = 0) -> batch_pb2.ProposalBatch:
    return batch_pb2.ProposalBatch(
        proposals=[proposal_pb2.SignedProposal(proposal_bytes=b) for b in items],
        min_ledger_height=height,
    )


def test_an_item_that_raises_is_a_500_and_its_neighbours_are_answered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    for stub in _serve(EndorserBatchServicer(Recorder())):
        reply = stub.ProcessProposals(_batch(b"a", b"boom", b"c"), timeout=10)
    statuses = [(r.response.status, r.response.payload) for r in reply.responses]
    assert statuses == [(200, b"a"), (500, b""), (200, b"c")]
    assert reply.responses[1].response.message.startswith("ENDORSER_FAILURE: ")
    assert "endorser bug" not in reply.responses[1].response.message  # no internals out
    assert "endorser bug" in caplog.text


def test_the_min_height_wait_is_one_budget_per_batch() -> None:
    """Items get the batch's height until MIN_HEIGHT_WAIT_S has passed since the
    batch started (here each clock reading is 0.4 of it later), then 0."""
    now = [100.0]

    def clock() -> float:
        now[0] += MIN_HEIGHT_WAIT_S * 0.4
        return now[0]

    recorder = Recorder()
    servicer = EndorserBatchServicer(recorder, clock=clock)
    for stub in _serve(servicer):
        reply = stub.ProcessProposals(_batch(b"1", b"2", b"3", b"4", height=9), timeout=10)
        assert len(reply.responses) == 4
        unhinted = stub.ProcessProposals(_batch(b"5"), timeout=10)
        assert len(unhinted.responses) == 1
    assert recorder.heights == [9, 9, 0, 0, 0]


def test_a_batch_over_the_bound_is_refused_whole_and_an_empty_one_is_answered_empty() -> None:
    recorder = Recorder()
    for stub in _serve(EndorserBatchServicer(recorder, max_proposals=3)):
        assert len(stub.ProcessProposals(_batch(b"1", b"2", b"3"), timeout=10).responses) == 3
        with pytest.raises(grpc.RpcError) as raised:
            stub.ProcessProposals(_batch(b"1", b"2", b"3", b"4"), timeout=10)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "BATCH_TOO_LARGE" in raised.value.details()
        assert list(stub.ProcessProposals(_batch(), timeout=10).responses) == []
    assert len(recorder.heights) == 3  # nothing of the refused batch was processed
