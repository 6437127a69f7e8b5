"""`CoalescingEndorserClient` against real in-process gRPC servers: concurrent calls
coalesce into batches (no timer), each caller gets its own answer, items fail
alone, a failed batch call fails its items, a peer without the batch service gets
unary calls, batches are cut at the bounds, a queued call times out."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass

import grpc
import pytest

from peer.endorser.batch import EndorserBatchServicer
from peer.endorser.endorser import EndorserServicer
from peer.gateway.clients import CoalescingEndorserClient, EndorseBatchError
from peer.ledger import MemoryLedger
from protos.peer import peer_pb2_grpc, proposal_pb2, proposal_response_pb2
from protos.scf import batch_pb2, batch_pb2_grpc
from tests.unit.peer.endorser.world import make_world, propose


class Echo:
    """A `ProposalProcessor` answering each proposal with its own bytes as payload;
    raises for proposal bytes `b"boom"`; counts calls."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def process_proposal(
        self, signed: proposal_pb2.SignedProposal, /, min_height: int = 0
    ) -> proposal_response_pb2.ProposalResponse:
        with self._lock:
            self.calls += 1
        if signed.proposal_bytes == b"boom":
            raise RuntimeError("endorser bug")
        return proposal_response_pb2.ProposalResponse(
            response=proposal_response_pb2.Response(status=200, payload=signed.proposal_bytes)
        )


class GatedPeer(batch_pb2_grpc.EndorserBatchServicer):
    """The batch service over `Echo`, recording each batch's size and holding every
    call until `gate` opens; batch number i (from 0) ends with status `aborts[i]`
    when set there."""

    def __init__(self, echo: Echo) -> None:
        self.inner = EndorserBatchServicer(echo)
        self.sizes: list[int] = []
        self.heights: list[int] = []
        self.aborts: dict[int, grpc.StatusCode] = {}
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)
        self._lock = threading.Lock()

    def ProcessProposals(
        self, request: batch_pb2.ProposalBatch, context: grpc.ServicerContext
    ) -> batch_pb2.ProposalResponseBatch:
        with self._lock:
            index = len(self.sizes)
            self.sizes.append(len(request.proposals))
            self.heights.append(request.min_ledger_height)
        self.entered.release()
        self.gate.wait(10)
        code = self.aborts.get(index)
        if code is not None:
            context.abort(code, f"batch {index} refused by the test")
        return self.inner.ProcessProposals(request, context)


@dataclass
class Peer:
    echo: Echo
    batch: GatedPeer
    channel: grpc.Channel


def _start(*, batch_service: bool = True) -> Iterator[Peer]:
    echo = Echo()
    gated = GatedPeer(echo)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    peer_pb2_grpc.add_EndorserServicer_to_server(EndorserServicer(echo), server)  # type: ignore[no-untyped-call]
    if batch_service:
        batch_pb2_grpc.add_EndorserBatchServicer_to_server(gated, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Peer(echo, gated, channel)
    finally:
        gated.gate.set()
        server.stop(grace=None).wait()


@pytest.fixture
def peer() -> Iterator[Peer]:
    yield from _start()


@pytest.fixture
def fabric_peer() -> Iterator[Peer]:
    """A peer with only `protos.Endorser` (as a Fabric peer)."""
    yield from _start(batch_service=False)


@pytest.fixture
def pool() -> Iterator[futures.ThreadPoolExecutor]:
    with futures.ThreadPoolExecutor(max_workers=16) as pool:
        yield pool


def _signed(data: bytes) -> proposal_pb2.SignedProposal:
    return proposal_pb2.SignedProposal(proposal_bytes=data)


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "condition not reached within 5 s"
        time.sleep(0.005)


Call = Callable[[bytes], "futures.Future[proposal_response_pb2.ProposalResponse]"]


def _caller(
    client: CoalescingEndorserClient, pool: futures.ThreadPoolExecutor, min_height: int = 0
) -> Call:
    def call(data: bytes) -> futures.Future[proposal_response_pb2.ProposalResponse]:
        return pool.submit(client.process_proposal, _signed(data), min_height)

    return call


def _hold(
    peer: Peer, client: CoalescingEndorserClient, call: Call, *first: bytes
) -> list[futures.Future[proposal_response_pb2.ProposalResponse]]:
    """Start one call per `first` item, each waiting until its batch is held by the
    peer (so the client's batch slots are taken one by one)."""
    held = []
    for data in first:
        held.append(call(data))
        assert peer.batch.entered.acquire(timeout=5)
    return held


def _queue(
    client: CoalescingEndorserClient, call: Call, items: list[bytes]
) -> list[futures.Future[proposal_response_pb2.ProposalResponse]]:
    queued = [call(data) for data in items]
    _wait_until(lambda: client.queued() == len(items))
    return queued


def test_concurrent_calls_are_coalesced_and_each_caller_gets_its_own_answer(
    peer: Peer, pool: futures.ThreadPoolExecutor
) -> None:
    """Two batch calls in flight (the default); the ten calls made meanwhile wait
    and go out together as the third batch."""
    client = CoalescingEndorserClient(peer.channel, timeout=10)
    call = _caller(client, pool, min_height=4)
    held = _hold(peer, client, call, b"0", b"1")
    items = [b"%d" % i for i in range(2, 12)]
    queued = _queue(client, call, items)
    peer.batch.gate.set()
    answers = [f.result(timeout=10) for f in (*held, *queued)]
    assert [a.response.payload for a in answers] == [b"0", b"1", *items]
    assert sorted(peer.batch.sizes) == [1, 1, 10]
    assert peer.batch.heights == [4, 4, 4]
    assert peer.echo.calls == 12


def test_a_lone_call_goes_out_at_once_as_a_batch_of_one(peer: Peer) -> None:
    peer.batch.gate.set()
    client = CoalescingEndorserClient(peer.channel, timeout=10)
    for data in (b"a", b"b"):
        assert client.process_proposal(_signed(data), 3).response.payload == data
    assert peer.batch.sizes == [1, 1]
    assert peer.batch.heights == [3, 3]


def test_a_batch_carries_the_highest_min_height_of_its_items(
    peer: Peer, pool: futures.ThreadPoolExecutor
) -> None:
    client = CoalescingEndorserClient(peer.channel, timeout=10, max_outstanding=1)
    held = _hold(peer, client, _caller(client, pool), b"0")
    queued = [_caller(client, pool, height)(b"h%d" % height) for height in (5, 9, 2)]
    _wait_until(lambda: client.queued() == 3)
    peer.batch.gate.set()
    for future in (*held, *queued):
        assert future.result(timeout=10).response.status == 200
    assert peer.batch.heights == [0, 9]


def test_one_failing_item_does_not_fail_its_neighbours(
    peer: Peer, pool: futures.ThreadPoolExecutor
) -> None:
    client = CoalescingEndorserClient(peer.channel, timeout=10, max_outstanding=1)
    call = _caller(client, pool)
    held = _hold(peer, client, call, b"first")
    queued = _queue(client, call, [b"a", b"boom", b"c"])
    peer.batch.gate.set()
    assert held[0].result(timeout=10).response.status == 200
    answers = [f.result(timeout=10).response for f in queued]
    assert [(a.status, a.payload) for a in answers] == [(200, b"a"), (500, b""), (200, b"c")]
    assert peer.batch.sizes == [1, 3]


def test_a_failed_batch_call_fails_each_of_its_items_and_only_them(
    peer: Peer, pool: futures.ThreadPoolExecutor
) -> None:
    peer.batch.aborts[1] = grpc.StatusCode.UNAVAILABLE
    client = CoalescingEndorserClient(peer.channel, timeout=10, max_outstanding=1)
    call = _caller(client, pool)
    held = _hold(peer, client, call, b"first")
    queued = _queue(client, call, [b"a", b"b", b"c"])
    peer.batch.gate.set()
    assert held[0].result(timeout=10).response.payload == b"first"
    for future in queued:
        error = future.exception(timeout=10)
        assert isinstance(error, grpc.RpcError)
        assert isinstance(error, grpc.Call)
        assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert client.process_proposal(_signed(b"after")).response.payload == b"after"
    assert peer.batch.sizes == [1, 3, 1]


def test_a_peer_without_the_batch_service_gets_unary_calls(fabric_peer: Peer) -> None:
    client = CoalescingEndorserClient(fabric_peer.channel, timeout=10)
    assert client.batching
    for data in (b"a", b"b"):
        assert client.process_proposal(_signed(data)).response.payload == data
    assert not client.batching
    assert fabric_peer.echo.calls == 2


def test_unimplemented_items_in_flight_and_queued_are_resent_as_unary_calls(
    peer: Peer, pool: futures.ThreadPoolExecutor
) -> None:
    """Both batches in flight and the calls queued behind them end up as unary
    ProcessProposal calls, each answered; no later call tries a batch again."""
    peer.batch.aborts.update({0: grpc.StatusCode.UNIMPLEMENTED, 1: grpc.StatusCode.UNIMPLEMENTED})
    client = CoalescingEndorserClient(peer.channel, timeout=10)
    call = _caller(client, pool)
    held = _hold(peer, client, call, b"0", b"1")
    items = [b"%d" % i for i in range(2, 8)]
    queued = _queue(client, call, items)
    peer.batch.gate.set()
    answers = [f.result(timeout=10).response.payload for f in (*held, *queued)]
    assert answers == [b"0", b"1", *items]
    assert client.process_proposal(_signed(b"later")).response.payload == b"later"
    assert not client.batching
    assert sorted(peer.batch.sizes) == [1, 1]
    assert peer.echo.calls == 9  # all unary: the refused batches processed nothing


@pytest.mark.parametrize(
    ("max_batch", "max_batch_bytes", "sizes"),
    [
        (3, 1 << 20, [1, 3, 3, 1]),
        (512, 2 * len(_signed(b"x").SerializeToString()), [1, 2, 2, 2, 1]),
    ],
)
def test_batches_are_cut_at_the_count_and_byte_bounds(
    peer: Peer,
    pool: futures.ThreadPoolExecutor,
    max_batch: int,
    max_batch_bytes: int,
    sizes: list[int],
) -> None:
    client = CoalescingEndorserClient(
        peer.channel,
        timeout=10,
        max_outstanding=1,
        max_batch=max_batch,
        max_batch_bytes=max_batch_bytes,
    )
    call = _caller(client, pool)
    held = _hold(peer, client, call, b"h")
    items = [b"%d" % i for i in range(sum(sizes) - 1)]
    queued = _queue(client, call, items)
    peer.batch.gate.set()
    assert [f.result(timeout=10).response.payload for f in (*held, *queued)] == [b"h", *items]
    assert peer.batch.sizes == sizes


def test_calls_get_an_error_within_the_deadline_when_the_peer_does_not_answer(
    peer: Peer, pool: futures.ThreadPoolExecutor
) -> None:
    client = CoalescingEndorserClient(peer.channel, timeout=0.5, max_outstanding=1)
    call = _caller(client, pool)
    started = time.monotonic()
    held = _hold(peer, client, call, b"stuck")
    queued = _queue(client, call, [b"waiting"])
    error = held[0].exception(timeout=5)
    assert isinstance(error, grpc.Call)
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    late = queued[0].exception(timeout=5)
    # Queued until the held batch failed, then either still waiting (its own deadline
    # passes) or sent with the little time it has left.
    assert isinstance(late, EndorseBatchError | grpc.RpcError)
    assert time.monotonic() - started < 4.0


def test_a_real_endorser_behind_the_batch_service() -> None:
    world = make_world()
    ledger = MemoryLedger()
    ledger.commit(world.genesis(), [0], [])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    batch_pb2_grpc.add_EndorserBatchServicer_to_server(  # type: ignore[no-untyped-call]
        EndorserBatchServicer(world.endorser(world.core_peer, ledger)), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            client = CoalescingEndorserClient(channel, timeout=10)
            signed, _ = propose(world.alice, "Get", {"key": "k"})
            response = client.process_proposal(signed)
    finally:
        server.stop(grace=None).wait()
    assert response.response.status == 200
    assert json.loads(response.response.payload) == {"key": "k", "value": None}
    assert client.batching


# ------------------------------------------- process_proposals (a gateway batch's)


def test_process_proposals_is_one_batch_call_bypassing_the_queue(
    peer: Peer, pool: futures.ThreadPoolExecutor
) -> None:
    """While the only batch slot is held, a gateway batch still goes out at once,
    as one call carrying all its proposals, answered in order."""
    client = CoalescingEndorserClient(peer.channel, timeout=10, max_outstanding=1)
    held = _hold(peer, client, _caller(client, pool), b"held")
    items = [b"a", b"b", b"boom", b"c"]
    batch = pool.submit(client.process_proposals, [_signed(d) for d in items], 7)
    assert peer.batch.entered.acquire(timeout=5)  # entered with the slot still held
    peer.batch.gate.set()
    answers = batch.result(timeout=10)
    assert held[0].result(timeout=10).response.payload == b"held"
    assert [a.response.payload for a in answers if not isinstance(a, Exception)] == [
        b"a",
        b"b",
        b"",
        b"c",
    ]
    assert [a.response.status for a in answers if not isinstance(a, Exception)][2] == 500
    assert peer.batch.sizes == [1, 4]
    assert peer.batch.heights == [0, 7]


def test_start_proposals_cuts_at_the_bound_and_keeps_the_order(peer: Peer) -> None:
    peer.batch.gate.set()
    client = CoalescingEndorserClient(peer.channel, timeout=10, max_batch=2)
    items = [b"%d" % i for i in range(5)]
    pending = client.start_proposals([_signed(d) for d in items])
    answers = pending.result()
    assert [a.response.payload for a in answers if not isinstance(a, Exception)] == items
    assert sorted(peer.batch.sizes) == [1, 2, 2]


def test_a_failed_batch_call_answers_each_proposal_with_its_error(peer: Peer) -> None:
    peer.batch.gate.set()
    peer.batch.aborts[0] = grpc.StatusCode.UNAVAILABLE
    client = CoalescingEndorserClient(peer.channel, timeout=10)
    answers = client.process_proposals([_signed(b"a"), _signed(b"b")])
    assert len(answers) == 2
    for answer in answers:
        assert isinstance(answer, grpc.Call)
        assert answer.code() == grpc.StatusCode.UNAVAILABLE


def test_process_proposals_to_a_fabric_peer_are_unary_calls(fabric_peer: Peer) -> None:
    client = CoalescingEndorserClient(fabric_peer.channel, timeout=10)
    items = [b"a", b"b", b"c"]
    answers = client.process_proposals([_signed(d) for d in items])
    assert [a.response.payload for a in answers if not isinstance(a, Exception)] == items
    assert not client.batching
    later = client.start_proposals([_signed(b"d"), _signed(b"e")]).result()
    assert [a.response.payload for a in later if not isinstance(a, Exception)] == [b"d", b"e"]
    assert fabric_peer.echo.calls == 5
