"""`GrpcBroadcastClient.broadcast_batch` against real in-process gRPC servers: one
BroadcastEnvelopes call per batch (cut at the bound), each envelope its own answer,
a failed call fails each of its envelopes, and an orderer without the batch
service gets the envelopes pipelined on its Broadcast stream."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass

import grpc
import pytest

from peer.gateway.clients import GrpcBroadcastClient
from protos.common import common_pb2
from protos.orderer import ab_pb2, ab_pb2_grpc
from protos.scf import batch_pb2, batch_pb2_grpc


def _answer(envelope: common_pb2.Envelope) -> ab_pb2.BroadcastResponse:
    """SUCCESS naming the envelope's payload; BAD_REQUEST for payload b"bad"."""
    status = common_pb2.BAD_REQUEST if envelope.payload == b"bad" else common_pb2.SUCCESS
    return ab_pb2.BroadcastResponse(status=status, info=envelope.payload.decode())


class FakeOrderer(ab_pb2_grpc.AtomicBroadcastServicer, batch_pb2_grpc.BroadcastBatchServicer):
    """Both services answering with `_answer`; records batch sizes, streams and
    streamed payloads; batch number i (from 0) ends with status `aborts[i]` if set."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.aborts: dict[int, grpc.StatusCode] = {}
        self.streamed: list[bytes] = []
        self.streams = 0
        self._lock = threading.Lock()

    def BroadcastEnvelopes(
        self, request: batch_pb2.EnvelopeBatch, context: grpc.ServicerContext
    ) -> batch_pb2.BroadcastResponseBatch:
        with self._lock:
            index = len(self.sizes)
            self.sizes.append(len(request.envelopes))
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
        server.stop(grace=None).wait()


@pytest.fixture
def orderer() -> Iterator[Orderer]:
    yield from _start(batch_service=True)


@pytest.fixture
def fabric_orderer() -> Iterator[Orderer]:
    """An orderer with only `orderer.AtomicBroadcast` (as a Fabric orderer)."""
    yield from _start(batch_service=False)


def _envelopes(*payloads: bytes) -> list[common_pb2.Envelope]:
    return [common_pb2.Envelope(payload=p) for p in payloads]


def _infos(answers: list[ab_pb2.BroadcastResponse | Exception]) -> list[str]:
    return [a.info if not isinstance(a, Exception) else repr(a) for a in answers]


def test_a_batch_is_one_call_and_each_envelope_gets_its_answer(orderer: Orderer) -> None:
    client = GrpcBroadcastClient(orderer.channel, timeout=10)
    try:
        answers = client.broadcast_batch(_envelopes(b"a", b"bad", b"c"))
        assert _infos(answers) == ["a", "bad", "c"]
        assert [a.status for a in answers if not isinstance(a, Exception)] == [
            common_pb2.SUCCESS,
            common_pb2.BAD_REQUEST,
            common_pb2.SUCCESS,
        ]
        assert orderer.fake.sizes == [3]
        assert client.broadcast(common_pb2.Envelope(payload=b"single")).info == "single"
        assert orderer.fake.sizes == [3]  # a single envelope goes on the stream
        assert orderer.fake.streamed == [b"single"]
    finally:
        client.close()


def test_a_batch_is_cut_at_the_envelope_bound(orderer: Orderer) -> None:
    client = GrpcBroadcastClient(orderer.channel, timeout=10, max_batch=3)
    payloads = [b"%d" % i for i in range(7)]
    assert _infos(client.broadcast_batch(_envelopes(*payloads))) == [p.decode() for p in payloads]
    assert sorted(orderer.fake.sizes) == [1, 3, 3]


def test_a_failed_call_fails_each_of_its_envelopes(orderer: Orderer) -> None:
    orderer.fake.aborts[0] = grpc.StatusCode.UNAVAILABLE
    client = GrpcBroadcastClient(orderer.channel, timeout=10)
    answers = client.broadcast_batch(_envelopes(b"a", b"b"))
    for answer in answers:
        assert isinstance(answer, grpc.Call)
        assert answer.code() == grpc.StatusCode.UNAVAILABLE
    assert _infos(client.broadcast_batch(_envelopes(b"c"))) == ["c"]
    assert client.batching


def test_a_fabric_orderer_gets_the_batch_pipelined_on_one_stream(
    fabric_orderer: Orderer,
) -> None:
    client = GrpcBroadcastClient(fabric_orderer.channel, timeout=10)
    try:
        assert _infos(client.broadcast_batch(_envelopes(b"a", b"bad", b"c"))) == ["a", "bad", "c"]
        assert not client.batching
        assert _infos(client.broadcast_batch(_envelopes(b"d", b"e"))) == ["d", "e"]
        assert fabric_orderer.fake.streamed == [b"a", b"bad", b"c", b"d", b"e"]
        assert fabric_orderer.fake.streams == 1
    finally:
        client.close()
