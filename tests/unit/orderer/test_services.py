"""Broadcast and Deliver through a real in-process gRPC server, real signatures."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from common import block as blk
from common.msp import SigningIdentity
from common.txutil import build_seek_envelope, seek_info
from orderer.broadcast import BroadcastHandler
from orderer.deliver import DeliverHandler
from orderer.server import AtomicBroadcastService
from protos.common import common_pb2
from protos.orderer import ab_pb2, ab_pb2_grpc
from tests.support.consortium import channel_config, make_org
from tests.unit.orderer.support import CHANNEL, Cluster, signed_envelope

ABSOLUTE_MAX = 64 * 1024


@dataclass
class Env:
    cluster: Cluster
    stub: ab_pb2_grpc.AtomicBroadcastStub
    raw_broadcast: grpc.StreamStreamMultiCallable
    alice: SigningIdentity
    regulator: SigningIdentity
    impostor: SigningIdentity
    outsider: SigningIdentity

    def broadcast(self, *envelopes: bytes) -> list[ab_pb2.BroadcastResponse]:
        responses = self.raw_broadcast(iter(envelopes))
        return [ab_pb2.BroadcastResponse.FromString(r) for r in responses]

    def deliver(self, envelope: common_pb2.Envelope) -> list[ab_pb2.DeliverResponse]:
        return list(self.stub.Deliver(iter([envelope]), timeout=10))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    orderer_org = make_org("OrdererMSP", "orderer")
    core = make_org("CoreMSP", "core")
    regulator_org = make_org("RegulatorMSP", "regulator")
    foreign_core = make_org("CoreMSP", "core")  # same MSP id, another CA
    other = make_org("OtherMSP", "supplier")
    consenters = [orderer_org.member(f"orderer{i}", "orderer") for i in range(3)]
    config = channel_config(
        CHANNEL, [core, regulator_org], orderer_org, consenters, read_only=["RegulatorMSP"]
    )
    config.batch_size.absolute_max_bytes = ABSOLUTE_MAX
    config.batch_size.preferred_max_bytes = ABSOLUTE_MAX // 2
    cluster = Cluster(tmp_path, config=config, consenter_identities=consenters)
    cluster.start_all()
    leader = cluster.leader()
    # serve on a follower, so accepted envelopes travel the forwarding path too
    serving = next(n for n in cluster.nodes.values() if n.id != leader.id)
    service = AtomicBroadcastService(
        BroadcastHandler(serving.registrar, cluster.metrics),
        DeliverHandler(serving.registrar, cluster.metrics),
    )
    executor = futures.ThreadPoolExecutor(max_workers=8)
    server = grpc.server(executor)
    service.add_to_server(server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    raw = channel.stream_stream(
        "/orderer.AtomicBroadcast/Broadcast",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    try:
        yield Env(
            cluster,
            ab_pb2_grpc.AtomicBroadcastStub(channel),
            raw,
            core.member("alice", "client"),
            regulator_org.member("inspector", "client"),
            foreign_core.member("mallory", "client"),
            other.member("bob", "client"),
        )
    finally:
        channel.close()
        server.stop(None).wait()
        executor.shutdown(wait=True)
        cluster.close()


def statuses(responses: list[ab_pb2.BroadcastResponse]) -> list[int]:
    return [r.status for r in responses]


def rejections(env: Env, reason: str) -> float:
    value: float = env.cluster.metrics.broadcast_rejections.labels(CHANNEL, reason)._value.get()
    return value


def test_signed_envelopes_are_accepted_and_ordered(env: Env) -> None:
    sent = [signed_envelope(CHANNEL, env.alice, f"tx{i}".encode()) for i in range(3)]
    assert statuses(env.broadcast(*sent)) == [common_pb2.SUCCESS] * 3
    env.cluster.wait_height(2)
    ordered = env.cluster.envelopes(1)
    assert sorted(ordered) == sorted(sent)  # the exact bytes the client sent


def test_wrong_signature_is_forbidden(env: Env) -> None:
    bad = signed_envelope(CHANNEL, env.alice, signature=env.alice.sign(b"something else"))
    (response,) = env.broadcast(bad)
    assert response.status == common_pb2.FORBIDDEN
    assert rejections(env, "forbidden") == 1


def test_foreign_ca_is_forbidden(env: Env) -> None:
    (response,) = env.broadcast(signed_envelope(CHANNEL, env.impostor))
    assert response.status == common_pb2.FORBIDDEN


def test_regulator_cannot_write(env: Env) -> None:
    (response,) = env.broadcast(signed_envelope(CHANNEL, env.regulator))
    assert response.status == common_pb2.FORBIDDEN
    assert "Writers" in response.info


def test_unknown_channel_is_not_found(env: Env) -> None:
    (response,) = env.broadcast(signed_envelope("no-such-channel", env.alice))
    assert response.status == common_pb2.NOT_FOUND


def test_oversize_envelope_is_too_large(env: Env) -> None:
    big = signed_envelope(CHANNEL, env.alice, b"x" * (ABSOLUTE_MAX + 1))
    (response,) = env.broadcast(big)
    assert response.status == common_pb2.REQUEST_ENTITY_TOO_LARGE
    assert rejections(env, "too_large") == 1


def test_garbage_and_bad_txid_are_bad_requests(env: Env) -> None:
    good = signed_envelope(CHANNEL, env.alice)
    envelope = common_pb2.Envelope.FromString(good)
    payload = common_pb2.Payload.FromString(envelope.payload)
    header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
    header.tx_id = "0" * 64
    payload.header.channel_header = header.SerializeToString()
    forged = payload.SerializeToString()
    bad_txid = common_pb2.Envelope(payload=forged, signature=env.alice.sign(forged))
    responses = env.broadcast(b"\xff\x00garbage", bad_txid.SerializeToString(), good)
    assert statuses(responses) == [
        common_pb2.BAD_REQUEST,
        common_pb2.BAD_REQUEST,
        common_pb2.SUCCESS,  # the stream stays usable after refusals
    ]


def test_deliver_oldest_to_newest(env: Env) -> None:
    sent = [signed_envelope(CHANNEL, env.alice, f"d{i}".encode()) for i in range(3)]
    assert statuses(env.broadcast(*sent)) == [common_pb2.SUCCESS] * 3
    env.cluster.wait_height(2)
    info = ab_pb2.SeekInfo(
        start=ab_pb2.SeekPosition(oldest=ab_pb2.SeekOldest()),
        stop=ab_pb2.SeekPosition(newest=ab_pb2.SeekNewest()),
    )
    responses = env.deliver(build_seek_envelope(CHANNEL, info, env.alice))
    blocks = [r.block for r in responses[:-1]]
    assert [b.header.number for b in blocks] == list(range(len(blocks)))
    assert len(blocks) >= 2
    assert responses[-1].status == common_pb2.SUCCESS
    assert blk.header_hash(blocks[0].header) == blk.header_hash(env.cluster.genesis.header)
    # the regulator is a Reader
    responses = env.deliver(build_seek_envelope(CHANNEL, seek_info(0, 0), env.regulator))
    assert responses[-1].status == common_pb2.SUCCESS
    assert len(responses) == 2


def test_deliver_fail_if_not_ready_is_not_found(env: Env) -> None:
    info = seek_info(5, 5, block_until_ready=False)
    (response,) = env.deliver(build_seek_envelope(CHANNEL, info, env.alice))
    assert response.status == common_pb2.NOT_FOUND


def test_deliver_block_until_ready_waits_for_the_block(env: Env) -> None:
    responses: list[ab_pb2.DeliverResponse] = []

    def read() -> None:
        responses.extend(env.deliver(build_seek_envelope(CHANNEL, seek_info(1, 1), env.alice)))

    reader = threading.Thread(target=read)
    reader.start()
    assert statuses(env.broadcast(signed_envelope(CHANNEL, env.alice))) == [common_pb2.SUCCESS]
    reader.join(10)
    assert not reader.is_alive()
    assert [r.WhichOneof("Type") for r in responses] == ["block", "status"]
    assert responses[0].block.header.number == 1


def test_deliver_non_member_is_forbidden(env: Env) -> None:
    for who in (env.outsider, env.impostor):
        (response,) = env.deliver(build_seek_envelope(CHANNEL, seek_info(0, 0), who))
        assert response.status == common_pb2.FORBIDDEN


def test_deliver_unknown_channel_and_start_after_stop(env: Env) -> None:
    (response,) = env.deliver(build_seek_envelope("nope", seek_info(0, 0), env.alice))
    assert response.status == common_pb2.NOT_FOUND
    (response,) = env.deliver(build_seek_envelope(CHANNEL, seek_info(3, 1), env.alice))
    assert response.status == common_pb2.BAD_REQUEST


def test_ack_on_commit_answers_once_the_block_is_appended(env: Env) -> None:
    serving = next(n for n in env.cluster.nodes.values() if n.id != env.cluster.leader().id)
    handler = BroadcastHandler(serving.registrar, ack_on_commit=True, commit_timeout_s=5)
    sent = [signed_envelope(CHANNEL, env.alice, f"c{i}".encode()) for i in range(5)]
    bad = signed_envelope(CHANNEL, env.regulator)
    responses = [
        ab_pb2.BroadcastResponse.FromString(r) for r in handler.stream([*sent[:2], bad, *sent[2:]])
    ]
    assert (
        statuses(responses)
        == [common_pb2.SUCCESS] * 2 + [common_pb2.FORBIDDEN] + [common_pb2.SUCCESS] * 3
    )
    # acknowledged means already in this node's block store
    stored = {bytes(e) for b in serving.store.blocks(1) for e in b.data.data}
    assert set(sent) <= stored


def test_a_known_writer_with_a_bad_signature_is_still_forbidden(env: Env) -> None:
    """The Writers outcome is remembered per identity; its signatures never are."""
    good = [signed_envelope(CHANNEL, env.alice, f"w{i}".encode()) for i in range(2)]
    bad = signed_envelope(CHANNEL, env.alice, signature=env.alice.sign(b"something else"))
    assert statuses(env.broadcast(good[0], bad, good[1])) == [
        common_pb2.SUCCESS,
        common_pb2.FORBIDDEN,
        common_pb2.SUCCESS,
    ]
    assert rejections(env, "forbidden") == 1


def test_a_non_writer_stays_forbidden_after_writers_were_admitted(env: Env) -> None:
    first = signed_envelope(CHANNEL, env.alice, b"a")
    refused = [signed_envelope(CHANNEL, env.regulator, f"r{i}".encode()) for i in range(2)]
    responses = env.broadcast(first, *refused)
    assert statuses(responses) == [common_pb2.SUCCESS, common_pb2.FORBIDDEN, common_pb2.FORBIDDEN]
    assert all("Writers" in r.info for r in responses[1:])


class _Lost:
    """The commit watch of an envelope lost with a dead leader: never fires."""

    def wait(self, timeout_s: float) -> bool:
        threading.Event().wait(timeout_s)
        return False


class _LosesFirst:
    """A broadcast channel whose first `count` envelopes never commit."""

    def __init__(self, inner: Any, count: int) -> None:
        self._inner = inner
        self._left = count

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def watch(self, txid: str) -> Any:
        if self._left > 0:
            self._left -= 1
            return _Lost()
        return self._inner.watch(txid)

    def unwatch(self, watch: Any) -> None:
        if not isinstance(watch, _Lost):
            self._inner.unwatch(watch)


def test_each_envelope_waits_for_its_commit_from_its_own_admission(env: Env) -> None:
    """Two envelopes lost with a leader, one behind the other on a stream: both are
    answered SERVICE_UNAVAILABLE about one timeout after they arrived, not the
    second a full timeout after the first's answer."""
    serving = next(n for n in env.cluster.nodes.values() if n.id != env.cluster.leader().id)
    lossy = _LosesFirst(serving.registrar.broadcast_channel(CHANNEL), 2)

    class Channels:
        def broadcast_channel(self, channel_id: str) -> Any:
            return lossy if channel_id == CHANNEL else None

    handler = BroadcastHandler(Channels(), ack_on_commit=True, commit_timeout_s=1.0)
    sent = [signed_envelope(CHANNEL, env.alice, f"lost{i}".encode()) for i in range(2)]
    started = time.monotonic()
    responses = [ab_pb2.BroadcastResponse.FromString(r) for r in handler.stream(sent)]
    elapsed = time.monotonic() - started
    assert statuses(responses) == [common_pb2.SERVICE_UNAVAILABLE] * 2
    assert elapsed < 1.8  # waiting in series would take at least 2.0 s
