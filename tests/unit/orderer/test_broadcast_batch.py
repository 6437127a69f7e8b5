"""`scf.BroadcastBatch/BroadcastEnvelopes` through a real in-process gRPC server over
the in-process cluster: each envelope answered as the Broadcast stream answers it,
in order, under the same acknowledgement rule; the batch's bounds and limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import pytest

from common.grpclimits import MAX_BROADCAST_BATCH, GrpcLimits, limited_server
from orderer.broadcast import BroadcastHandler
from orderer.deliver import DeliverHandler
from orderer.server import AtomicBroadcastService, split_envelopes
from protos.common import common_pb2
from protos.orderer import ab_pb2
from protos.scf import batch_pb2
from tests.unit.orderer import test_services
from tests.unit.orderer.support import CHANNEL, signed_envelope, wait_until
from tests.unit.orderer.test_services import Env, _LosesFirst, statuses

env = test_services.env  # the fixture: a channel on three in-process orderers, its clients

BATCH = "/scf.BroadcastBatch/BroadcastEnvelopes"


def _encode(*envelopes: bytes) -> bytes:
    """An EnvelopeBatch holding exactly these bytes, as protobuf lays it out."""
    return b"".join(b"\x0a" + _varint(len(e)) + e for e in envelopes)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class Server:
    """One orderer's public gRPC server over `handler`, with raw callables for a
    Broadcast stream and a batch (bytes in, parsed responses out)."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._stream = channel.stream_stream(
            "/orderer.AtomicBroadcast/Broadcast",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        self.raw_batch = channel.unary_unary(
            BATCH,
            request_serializer=lambda b: b,
            response_deserializer=batch_pb2.BroadcastResponseBatch.FromString,
        )

    def stream(self, *envelopes: bytes) -> list[ab_pb2.BroadcastResponse]:
        return [ab_pb2.BroadcastResponse.FromString(r) for r in self._stream(iter(envelopes))]

    def batch(self, *envelopes: bytes) -> list[ab_pb2.BroadcastResponse]:
        reply: batch_pb2.BroadcastResponseBatch = self.raw_batch(_encode(*envelopes), timeout=20)
        return list(reply.responses)


@contextmanager
def serving(
    env: Env,
    *,
    ack_on_commit: bool = False,
    commit_timeout_s: float = 5.0,
    channels: Any = None,
    limits: GrpcLimits | None = None,
    max_batch: int = MAX_BROADCAST_BATCH,
) -> Iterator[Server]:
    """A server on a follower (so accepted envelopes are forwarded to the leader),
    through `common.grpclimits` as the orderer node serves."""
    follower = next(n for n in env.cluster.nodes.values() if n.id != env.cluster.leader().id)
    handler = BroadcastHandler(
        channels or follower.registrar,
        env.cluster.metrics,
        ack_on_commit=ack_on_commit,
        commit_timeout_s=commit_timeout_s,
    )
    service = AtomicBroadcastService(
        handler, DeliverHandler(follower.registrar), max_batch=max_batch
    )
    server, executor, _ = limited_server(limits or GrpcLimits(), name="test-ab")
    service.add_to_server(server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Server(channel)
    finally:
        server.stop(None).wait()
        executor.shutdown(wait=True)


def _mixed(env: Env) -> list[bytes]:
    """One envelope of each kind the stream tests cover, good ones around them."""
    good = signed_envelope(CHANNEL, env.alice, b"good-a")
    payload = common_pb2.Envelope.FromString(signed_envelope(CHANNEL, env.alice)).payload
    return [
        good,
        signed_envelope(CHANNEL, env.alice, signature=env.alice.sign(b"other")),  # bad sig
        signed_envelope(CHANNEL, env.regulator),  # a Reader, not a Writer
        signed_envelope(CHANNEL, env.impostor),  # a foreign CA
        b"\xff\x00garbage",  # not an Envelope
        common_pb2.Envelope(payload=b"\x01", signature=b"s").SerializeToString(),
        signed_envelope("no-such-channel", env.alice),
        common_pb2.Envelope(payload=payload, signature=b"").SerializeToString(),  # no sig
        signed_envelope(CHANNEL, env.alice, b"good-b"),
    ]


EXPECTED = [
    common_pb2.SUCCESS,
    common_pb2.FORBIDDEN,
    common_pb2.FORBIDDEN,
    common_pb2.FORBIDDEN,
    common_pb2.BAD_REQUEST,
    common_pb2.BAD_REQUEST,
    common_pb2.NOT_FOUND,
    common_pb2.FORBIDDEN,
    common_pb2.SUCCESS,
]


@pytest.mark.parametrize("ack_on_commit", [False, True])
def test_a_batch_answers_each_envelope_in_order_as_the_stream_does(
    env: Env, ack_on_commit: bool
) -> None:
    with serving(env, ack_on_commit=ack_on_commit) as server:
        by_stream = server.stream(*_mixed(env))
        sent = _mixed(env)
        by_batch = server.batch(*sent)
    assert statuses(by_stream) == EXPECTED
    assert statuses(by_batch) == EXPECTED
    for one, other in zip(by_stream, by_batch, strict=True):
        assert one.info == other.info
    assert "Writers" in by_batch[2].info
    leader = env.cluster.leader().id
    # ordered as the exact bytes sent
    wait_until(lambda: {sent[0], sent[-1]} <= set(env.cluster.envelopes(leader)))


def test_with_ack_on_commit_a_batch_answers_once_its_blocks_are_appended(env: Env) -> None:
    follower = next(n for n in env.cluster.nodes.values() if n.id != env.cluster.leader().id)
    sent = [signed_envelope(CHANNEL, env.alice, b"c%d" % i) for i in range(6)]
    with serving(env, ack_on_commit=True) as server:
        responses = server.batch(*sent[:3], signed_envelope(CHANNEL, env.regulator), *sent[3:])
    assert (
        statuses(responses)
        == [common_pb2.SUCCESS] * 3 + [common_pb2.FORBIDDEN] + [common_pb2.SUCCESS] * 3
    )
    stored = {bytes(e) for b in follower.store.blocks(1) for e in b.data.data}
    assert set(sent) <= stored  # acknowledged means already in the answering node's store


def test_the_answers_of_a_batch_are_awaited_together_not_one_after_another(env: Env) -> None:
    """Three envelopes lost with a leader: each answered SERVICE_UNAVAILABLE about one
    commit timeout after the batch arrived (in series it would take three)."""
    follower = next(n for n in env.cluster.nodes.values() if n.id != env.cluster.leader().id)
    lossy = _LosesFirst(follower.registrar.broadcast_channel(CHANNEL), 3)

    class Channels:
        def broadcast_channel(self, channel_id: str) -> Any:
            return lossy if channel_id == CHANNEL else None

    sent = [signed_envelope(CHANNEL, env.alice, b"lost%d" % i) for i in range(3)]
    with serving(env, ack_on_commit=True, commit_timeout_s=1.0, channels=Channels()) as server:
        started = time.monotonic()
        responses = server.batch(*sent, signed_envelope(CHANNEL, env.alice, b"kept"))
        elapsed = time.monotonic() - started
    assert statuses(responses) == [common_pb2.SERVICE_UNAVAILABLE] * 3 + [common_pb2.SUCCESS]
    assert "resubmit" in responses[0].info
    assert elapsed < 2.0  # one timeout (1 s), not three


def test_one_envelope_that_breaks_admission_fails_alone(env: Env) -> None:
    follower = next(n for n in env.cluster.nodes.values() if n.id != env.cluster.leader().id)
    inner: Any = follower.registrar.broadcast_channel(CHANNEL)
    poison = signed_envelope(CHANNEL, env.alice, b"poison")

    class Breaking:
        def __getattr__(self, name: str) -> Any:
            return getattr(inner, name)

        def submit_async(self, envelope: bytes, txid: str) -> Any:
            if envelope == poison:
                raise RuntimeError("orderer bug")
            return inner.submit_async(envelope, txid)

    class Channels:
        def broadcast_channel(self, channel_id: str) -> Any:
            return Breaking() if channel_id == CHANNEL else None

    good = [signed_envelope(CHANNEL, env.alice, b"g%d" % i) for i in range(2)]
    with serving(env, ack_on_commit=True, channels=Channels()) as server:
        responses = server.batch(good[0], poison, good[1])
    assert statuses(responses) == [
        common_pb2.SUCCESS,
        common_pb2.INTERNAL_SERVER_ERROR,
        common_pb2.SUCCESS,
    ]


def test_an_empty_batch_gets_an_empty_reply(env: Env) -> None:
    with serving(env) as server:
        assert server.batch() == []


def test_too_many_envelopes_or_a_malformed_batch_are_invalid_arguments(env: Env) -> None:
    good = [signed_envelope(CHANNEL, env.alice, b"n%d" % i) for i in range(4)]
    with serving(env, max_batch=3) as small, serving(env) as default:
        with pytest.raises(grpc.RpcError) as refused:
            small.batch(*good)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "BATCH_TOO_LARGE" in str(refused.value.details())
        with pytest.raises(grpc.RpcError) as refused:
            default.batch(*[b"x"] * (MAX_BROADCAST_BATCH + 1))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as refused:
            default.raw_batch(b"\x0a\x05abc", timeout=5)  # a truncated envelope field
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert statuses(small.batch(*good[:3])) == [common_pb2.SUCCESS] * 3
    leader = env.cluster.leader().id
    wait_until(lambda: set(good[:3]) <= set(env.cluster.envelopes(leader)))
    assert good[3] not in env.cluster.envelopes(leader)  # the refused batch admitted nothing


def test_a_batch_is_bounded_by_the_servers_message_and_concurrency_limits(env: Env) -> None:
    follower = next(n for n in env.cluster.nodes.values() if n.id != env.cluster.leader().id)
    lossy = _LosesFirst(follower.registrar.broadcast_channel(CHANNEL), 1)

    class Channels:
        def broadcast_channel(self, channel_id: str) -> Any:
            return lossy if channel_id == CHANNEL else None

    limits = GrpcLimits(max_rpcs=1, max_rpcs_per_connection=1, max_receive_message_bytes=4096)
    with serving(
        env, ack_on_commit=True, commit_timeout_s=2.0, channels=Channels(), limits=limits
    ) as server:
        with pytest.raises(grpc.RpcError) as refused:
            server.batch(*[signed_envelope(CHANNEL, env.alice, b"x" * 600) for _ in range(5)])
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        held: list[list[ab_pb2.BroadcastResponse]] = []
        waiting = threading.Thread(
            target=lambda: held.append(server.batch(signed_envelope(CHANNEL, env.alice)))
        )
        waiting.start()  # its envelope never commits: the call holds the only slot
        time.sleep(0.5)
        with pytest.raises(grpc.RpcError) as refused:
            server.batch(signed_envelope(CHANNEL, env.alice))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        waiting.join(10)
    assert statuses(held[0]) == [common_pb2.SERVICE_UNAVAILABLE]


def test_split_envelopes_keeps_the_exact_bytes_and_skips_other_fields() -> None:
    odd = b"\x12\x01p\x0a\x00\x12\x01q"  # fields out of order, one repeated: kept as is
    envelopes = [b"", odd, b"\x0a\x03abc"]
    request = _encode(*envelopes)
    assert split_envelopes(request) == envelopes
    parsed = batch_pb2.EnvelopeBatch.FromString(request)
    assert len(parsed.envelopes) == 3
    unknown = b"\x10\x07" + b"\x1d\x00\x00\x00\x00" + b"\x19" + b"\x00" * 8 + b"\x22\x01z"
    assert split_envelopes(unknown + request) == envelopes
    for broken in (b"\x0a", b"\x0a\x05abc", b"\x0b", b"\x1d\x00", b"\x80" * 11):
        with pytest.raises(ValueError, match=r"truncated|wire type|varint"):
            split_envelopes(broken)
