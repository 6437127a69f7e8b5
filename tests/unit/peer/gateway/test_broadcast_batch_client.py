"""`CoalescingBroadcastClient` against real in-process gRPC servers: concurrent calls
coalesce into BroadcastEnvelopes batches (no timer), each caller gets its own
answer, a failed batch call fails its items, an orderer without the batch service
gets a Broadcast stream; and against the real orderer service over the in-process
cluster, acknowledging on commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from orderer.broadcast import BroadcastHandler
from orderer.deliver import DeliverHandler
from orderer.server import AtomicBroadcastService
from peer.gateway.clients import CoalescingBroadcastClient
from protos.common import common_pb2
from protos.orderer import ab_pb2, ab_pb2_grpc
from protos.scf import batch_pb2, batch_pb2_grpc
from tests.support.consortium import make_org
from tests.unit.orderer.support import CHANNEL, Cluster, signed_envelope


def _answer(envelope: common_pb2.Envelope) -> ab_pb2.BroadcastResponse:
    """SUCCESS naming the envelope's payload; BAD_REQUEST for payload b"bad"."""
    status = common_pb2.BAD_REQUEST if envelope.payload == b"bad" else common_pb2.SUCCESS
    return ab_pb2.BroadcastResponse(status=status, info=envelope.payload.decode())


class FakeOrderer(ab_pb2_grpc.AtomicBroadcastServicer, batch_pb2_grpc.BroadcastBatchServicer):
    """Both services answering with `_answer`. Batch calls record their sizes and
    wait for `gate`; batch number i (from 0) ends with status `aborts[i]` if set."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.aborts: dict[int, grpc.StatusCode] = {}
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)
        self.streamed: list[bytes] = []
        self.streams = 0
        self._lock = threading.Lock()

    def BroadcastEnvelopes(
        self, request: batch_pb2.EnvelopeBatch, context: grpc.ServicerContext
    ) -> batch_pb2.BroadcastResponseBatch:
        with self._lock:
            index = len(self.sizes)
            self.sizes.append(len(request.envelopes))
        self.entered.release()
        self.gate.wait(10)
        code = self.aborts.get(index)
        if code is not None:
            context.abort(code, f"batch {index} refused by the test")
        return batch_pb2.BroadcastResponseBatch(responses=[_answer(e) for e in request.envelopes])

    def Broadcast(
        self, request_iterator: Iterator[common_pb2.Envelope], context: grpc.ServicerContext
    ) -> Iterator[ab_pb2.BroadcastResponse]:
        with self._lock:
            self.streams += 1
        for envelope in request_iterator:
            with self._lock:
                self.streamed.append(envelope.payload)
            yield _answer(envelope)


@dataclass
class Orderer:
    fake: FakeOrderer
    channel: grpc.Channel


def _start(*, batch_service: bool) -> Iterator[Orderer]:
    fake = FakeOrderer()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    ab_pb2_grpc.add_AtomicBroadcastServicer_to_server(fake, server)  # type: ignore[no-untyped-call]
    if batch_service:
        batch_pb2_grpc.add_BroadcastBatchServicer_to_server(fake, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Orderer(fake, channel)
    finally:
        fake.gate.set()
        server.stop(grace=None).wait()


@pytest.fixture
def orderer() -> Iterator[Orderer]:
    yield from _start(batch_service=True)


@pytest.fixture
def fabric_orderer() -> Iterator[Orderer]:
    """An orderer with only `orderer.AtomicBroadcast` (as a Fabric orderer)."""
    yield from _start(batch_service=False)


@pytest.fixture
def pool() -> Iterator[futures.ThreadPoolExecutor]:
    with futures.ThreadPoolExecutor(max_workers=16) as pool:
        yield pool


Call = Callable[[bytes], "futures.Future[ab_pb2.BroadcastResponse]"]


def _caller(client: CoalescingBroadcastClient, pool: futures.ThreadPoolExecutor) -> Call:
    def call(data: bytes) -> futures.Future[ab_pb2.BroadcastResponse]:
        return pool.submit(client.broadcast, common_pb2.Envelope(payload=data))

    return call


def _hold(
    orderer: Orderer, call: Call, *first: bytes
) -> list[futures.Future[ab_pb2.BroadcastResponse]]:
    """One call per `first` item, each waiting until its batch is held by the
    orderer (so the client's batch slots are taken one by one)."""
    held = []
    for data in first:
        held.append(call(data))
        assert orderer.fake.entered.acquire(timeout=5)
    return held


def _queue(
    client: CoalescingBroadcastClient, call: Call, items: list[bytes]
) -> list[futures.Future[ab_pb2.BroadcastResponse]]:
    queued = [call(data) for data in items]
    deadline = time.monotonic() + 5
    while client.queued() != len(items):
        assert time.monotonic() < deadline, "the calls did not queue within 5 s"
        time.sleep(0.005)
    return queued


def test_concurrent_broadcasts_are_coalesced_and_each_caller_gets_its_own_answer(
    orderer: Orderer, pool: futures.ThreadPoolExecutor
) -> None:
    """Two batch calls in flight; the calls made meanwhile wait and go out together
    as the third batch, one bad envelope among them answered alone."""
    client = CoalescingBroadcastClient(orderer.channel, timeout=10, max_outstanding=2)
    call = _caller(client, pool)
    held = _hold(orderer, call, b"0", b"1")
    items = [b"2", b"3", b"bad", *(b"%d" % i for i in range(4, 10))]
    queued = _queue(client, call, items)
    orderer.fake.gate.set()
    answers = [f.result(timeout=10) for f in (*held, *queued)]
    assert [a.info.encode() for a in answers] == [b"0", b"1", *items]
    assert [a.status for a in answers].count(common_pb2.BAD_REQUEST) == 1
    assert answers[4].status == common_pb2.BAD_REQUEST
    assert sorted(orderer.fake.sizes) == [1, 1, 9]
    assert orderer.fake.streams == 0


def test_a_lone_broadcast_goes_out_at_once_as_a_batch_of_one(orderer: Orderer) -> None:
    orderer.fake.gate.set()
    client = CoalescingBroadcastClient(orderer.channel, timeout=10)
    for data in (b"a", b"b"):
        assert client.broadcast(common_pb2.Envelope(payload=data)).info == data.decode()
    assert orderer.fake.sizes == [1, 1]


def test_batches_are_cut_at_the_envelope_bound(
    orderer: Orderer, pool: futures.ThreadPoolExecutor
) -> None:
    client = CoalescingBroadcastClient(orderer.channel, timeout=10, max_outstanding=1, max_batch=3)
    call = _caller(client, pool)
    held = _hold(orderer, call, b"h")
    items = [b"%d" % i for i in range(7)]
    queued = _queue(client, call, items)
    orderer.fake.gate.set()
    assert [f.result(timeout=10).info for f in (*held, *queued)] == ["h", *map(bytes.decode, items)]
    assert orderer.fake.sizes == [1, 3, 3, 1]


def test_a_failed_batch_call_fails_each_of_its_envelopes_and_only_them(
    orderer: Orderer, pool: futures.ThreadPoolExecutor
) -> None:
    orderer.fake.aborts[1] = grpc.StatusCode.UNAVAILABLE
    client = CoalescingBroadcastClient(orderer.channel, timeout=10, max_outstanding=1)
    call = _caller(client, pool)
    held = _hold(orderer, call, b"first")
    queued = _queue(client, call, [b"a", b"b", b"c"])
    orderer.fake.gate.set()
    assert held[0].result(timeout=10).info == "first"
    for future in queued:
        error = future.exception(timeout=10)
        assert isinstance(error, grpc.Call)
        assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert client.broadcast(common_pb2.Envelope(payload=b"after")).info == "after"
    assert orderer.fake.sizes == [1, 3, 1]
    assert client.batching


def test_a_fabric_orderer_gets_one_broadcast_stream(fabric_orderer: Orderer) -> None:
    client = CoalescingBroadcastClient(fabric_orderer.channel, timeout=10)
    try:
        for data in (b"a", b"bad", b"c"):
            answer = client.broadcast(common_pb2.Envelope(payload=data))
            assert answer.info == data.decode()
        assert answer.status == common_pb2.SUCCESS
        assert not client.batching
        assert fabric_orderer.fake.streamed == [b"a", b"bad", b"c"]
        assert fabric_orderer.fake.streams == 1
    finally:
        client.close()


def test_unimplemented_envelopes_in_flight_and_queued_go_through_the_stream(
    orderer: Orderer, pool: futures.ThreadPoolExecutor
) -> None:
    orderer.fake.aborts.update({0: grpc.StatusCode.UNIMPLEMENTED, 1: grpc.StatusCode.UNIMPLEMENTED})
    client = CoalescingBroadcastClient(orderer.channel, timeout=10, max_outstanding=2)
    try:
        call = _caller(client, pool)
        held = _hold(orderer, call, b"0", b"1")
        items = [b"%d" % i for i in range(2, 8)]
        queued = _queue(client, call, items)
        orderer.fake.gate.set()
        answers = [f.result(timeout=10).info.encode() for f in (*held, *queued)]
        assert answers == [b"0", b"1", *items]
        assert client.broadcast(common_pb2.Envelope(payload=b"later")).info == "later"
        assert not client.batching
        assert sorted(orderer.fake.sizes) == [1, 1]  # no batch after the refusals
        assert sorted(orderer.fake.streamed) == sorted([b"0", b"1", *items, b"later"])
    finally:
        client.close()


def test_against_the_orderer_service_acknowledging_on_commit(tmp_path: Path) -> None:
    """Thirty concurrent submitters through one client: each acknowledged once its
    block is appended on the answering orderer, the outsider refused, in fewer batch
    calls than envelopes."""
    cluster = Cluster(tmp_path, batch_timeout_ms=50, max_message_count=100)
    cluster.start_all()
    leader = cluster.leader()
    follower = next(n for n in cluster.nodes.values() if n.id != leader.id)
    sizes: list[int] = []

    class Counting(AtomicBroadcastService):
        def broadcast_envelopes(self, request: bytes, context: grpc.ServicerContext) -> bytes:
            reply = super().broadcast_envelopes(request, context)
            sizes.append(len(batch_pb2.BroadcastResponseBatch.FromString(reply).responses))
            return reply

    service = Counting(
        BroadcastHandler(follower.registrar, ack_on_commit=True, commit_timeout_s=5),
        DeliverHandler(follower.registrar),
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    service.add_to_server(server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    outsider = make_org("OtherMSP", "other").member("bob", "client")
    sent = [signed_envelope(CHANNEL, cluster.client, b"e%d" % i) for i in range(30)]
    sent[7] = signed_envelope(CHANNEL, outsider)
    try:
        with (
            grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
            futures.ThreadPoolExecutor(max_workers=30) as pool,
        ):
            client = CoalescingBroadcastClient(channel, timeout=10)
            answers = list(
                pool.map(lambda raw: client.broadcast(common_pb2.Envelope.FromString(raw)), sent)
            )
            stored = {bytes(e) for b in follower.store.blocks(1) for e in b.data.data}
    finally:
        server.stop(None).wait()
        cluster.close()
    assert [a.status for a in answers] == [common_pb2.SUCCESS] * 7 + [common_pb2.FORBIDDEN] + [
        common_pb2.SUCCESS
    ] * 22
    assert set(sent) - {sent[7]} <= stored  # acknowledged means appended here
    assert sum(sizes) == 30
    assert len(sizes) < 30
