"""Two orderers talking over the real gRPC cluster port with mutual TLS on 127.0.0.1."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress

import grpc
import pytest

from common import tls
from common.config.channel import Consenter
from orderer.cluster import ForwardResult
from orderer.cluster_service import ClusterMembership, ClusterServer
from orderer.raft import Entry, Index, Message, MessageType, NodeId, Term
from orderer.transport import GrpcClusterTransport, TransportOptions
from protos.scf import cluster_pb2, cluster_pb2_grpc
from tests.unit.transport.conftest import (
    CHANNEL,
    ORDERER_MSP,
    NodeTls,
    Pki,
    RecordingHandler,
    consenter,
)

FAST = TransportOptions(connect_timeout_s=1.0, backoff_initial_s=0.05, backoff_max_s=0.2)


def append(index: int, *, to: int = 2, sender: int = 1, size: int = 1024) -> Message:
    entry = Entry(Term(1), Index(index), index.to_bytes(4, "big") * (size // 4))
    return Message(MessageType.APP, NodeId(to), NodeId(sender), Term(1), entries=(entry,))


class Cluster:
    """Node 1 (client side) and node 2 (server), plus whatever a test adds."""

    def __init__(self, pki: Pki, stack: ExitStack) -> None:
        self.pki = pki
        self.stack = stack
        self.tls1 = pki.issue("orderer1.example.com")
        self.tls2 = pki.issue("orderer2.example.com")
        self.handler2 = RecordingHandler()
        self.handler1 = RecordingHandler()
        self.membership2 = ClusterMembership()
        self.server2 = self.start_server(self.tls2, self.handler2, self.membership2)
        self.consenters = (
            consenter(1, self.tls1, 1),  # node 1 runs no server in these tests
            consenter(2, self.tls2, self.server2.port),
        )
        self.membership2.update(CHANNEL, self.consenters, {ORDERER_MSP: (pki.ca_pem,)})
        self.transport1 = self.transport(self.tls1, self.handler1, self.consenters)

    def start_server(
        self,
        node: NodeTls,
        handler: RecordingHandler,
        membership: ClusterMembership,
        *,
        address: str = "127.0.0.1:0",
        trust_foreign: bool = False,
    ) -> ClusterServer:
        server = ClusterServer(
            address, self.pki.server_tls(node, trust_foreign=trust_foreign), handler, membership
        )
        server.start()
        self.stack.callback(server.stop, 0)
        return server

    def transport(
        self,
        node: NodeTls,
        handler: RecordingHandler,
        consenters: tuple[Consenter, ...],
        *,
        self_id: int | None = None,
    ) -> GrpcClusterTransport:
        transport = GrpcClusterTransport(self.pki.client_tls(node), handler, options=FAST)
        transport.update_consenters(CHANNEL, consenters, self_id=self_id)
        self.stack.callback(transport.close)
        return transport

    def raw_stub(self, client: tls.ClientTls) -> cluster_pb2_grpc.ClusterStub:
        channel = grpc.secure_channel(f"127.0.0.1:{self.server2.port}", client.credentials())
        self.stack.callback(channel.close)
        return cluster_pb2_grpc.ClusterStub(channel)  # type: ignore[no-untyped-call]


@pytest.fixture
def cluster(pki: Pki) -> Iterator[Cluster]:
    with ExitStack() as stack:
        yield Cluster(pki, stack)


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_messages_arrive_in_order_and_batched(cluster: Cluster) -> None:
    sent = [append(i) for i in range(1, 2001)]
    for message in sent:
        cluster.transport1.send(CHANNEL, [message])
    received = cluster.handler2.wait_messages(len(sent))
    assert received == sent
    senders = {(channel, sender) for channel, sender, _ in cluster.handler2.batches}
    assert senders == {(CHANNEL, NodeId(1))}
    # The first send waits for the connection, so later ones pile up and share requests.
    assert len(cluster.handler2.batches) < len(sent)
    assert cluster.handler1.unreachable == []


def test_forward_returns_the_leaders_answer(cluster: Cluster) -> None:
    cluster.handler2.forward_result = ForwardResult(200, "queued at leader")
    result = cluster.transport1.forward(CHANNEL, NodeId(2), b"envelope-bytes", 5.0)
    assert result == ForwardResult(200, "queued at leader")
    assert cluster.handler2.forwarded == [(CHANNEL, NodeId(1), b"envelope-bytes")]

    cluster.handler2.forward_result = ForwardResult(500, "")
    failed = cluster.transport1.forward(CHANNEL, NodeId(2), b"x", 5.0)
    assert failed.status == 500
    assert "leader exploded" in failed.info


def test_forward_to_unknown_or_down_leader_is_service_unavailable(cluster: Cluster) -> None:
    assert cluster.transport1.forward(CHANNEL, NodeId(9), b"x", 1.0).status == 503
    assert cluster.transport1.forward("other", NodeId(2), b"x", 1.0).status == 503
    cluster.server2.stop(0)
    down = cluster.transport1.forward(CHANNEL, NodeId(2), b"x", 1.0)
    assert down.status == 503
    assert "UNAVAILABLE" in down.info or "DEADLINE" in down.info


def test_non_consenter_certificate_is_refused(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    outsider = cluster.pki.issue("orderer9.example.com")  # same TLS CA, not a consenter
    handler = RecordingHandler()
    transport = cluster.transport(outsider, handler, cluster.consenters)
    with caplog.at_level("WARNING", logger="orderer.cluster"):
        for index in range(1, 4):
            transport.send(CHANNEL, [append(index)])
        assert handler.wait_unreachable() == [(CHANNEL, NodeId(2))]
        assert transport.forward(CHANNEL, NodeId(2), b"x", 2.0).status == 503
        assert transport.forward(CHANNEL, NodeId(2), b"x", 2.0).status == 503
    assert cluster.handler2.messages() == []
    assert cluster.handler2.forwarded == []
    refusals = [r for r in caplog.records if "refused PERMISSION_DENIED" in r.getMessage()]
    # Logged once per (cert, channel, reason), however often it comes back.
    assert len(refusals) == 1
    assert "not that of a consenter" in refusals[0].getMessage()

    stub = cluster.raw_stub(cluster.pki.client_tls(outsider))
    with pytest.raises(grpc.RpcError) as err:
        stub.Submit(cluster_pb2.SubmitRequest(channel=CHANNEL, envelope=b"x"), timeout=5)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_consenter_of_another_channel_is_refused(cluster: Cluster) -> None:
    stub = cluster.raw_stub(cluster.pki.client_tls(cluster.tls1))
    with pytest.raises(grpc.RpcError) as err:
        stub.Submit(cluster_pb2.SubmitRequest(channel="secret", envelope=b"x"), timeout=5)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_consenter_posing_as_another_is_refused(cluster: Cluster) -> None:
    stub = cluster.raw_stub(cluster.pki.client_tls(cluster.tls1))
    forged = [
        cluster_pb2.StepRequest(
            channel=CHANNEL,
            messages=[cluster_pb2.RaftMessage(type=7, to=2, from_node=3, term=1)],  # type: ignore[arg-type]
        )
    ]
    responses = stub.Step(iter(forged), timeout=5)
    with pytest.raises(grpc.RpcError) as err:
        list(responses)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert cluster.handler2.messages() == []


def test_undecodable_raft_message_is_invalid_argument(cluster: Cluster) -> None:
    stub = cluster.raw_stub(cluster.pki.client_tls(cluster.tls1))
    bad = [
        cluster_pb2.StepRequest(
            channel=CHANNEL,
            messages=[cluster_pb2.RaftMessage(type=77, to=2, from_node=1)],  # type: ignore[arg-type]
        )
    ]
    with pytest.raises(grpc.RpcError) as err:
        list(stub.Step(iter(bad), timeout=5))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_client_without_certificate_cannot_connect(cluster: Cluster) -> None:
    stub = cluster.raw_stub(tls.ClientTls.load([cluster.pki.ca_pem]))
    with pytest.raises(grpc.RpcError) as err:
        stub.Submit(cluster_pb2.SubmitRequest(channel=CHANNEL, envelope=b"x"), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert cluster.handler2.forwarded == []


def test_garbage_bytes_do_not_kill_the_server(cluster: Cluster) -> None:
    junk = [
        b"\x00" * 64,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\xff" * 512,
        bytes(range(256)) * 16,
    ]
    for payload in junk:
        with socket.create_connection(("127.0.0.1", cluster.server2.port), timeout=5) as sock:
            sock.sendall(payload)
            sock.settimeout(1)
            with suppress(TimeoutError, ConnectionError):
                sock.recv(1024)
    result = cluster.transport1.forward(CHANNEL, NodeId(2), b"still alive", 5.0)
    assert result.status == 200


def test_unreachable_while_down_and_recovery_after_restart(cluster: Cluster) -> None:
    port = cluster.server2.port
    cluster.transport1.send(CHANNEL, [append(1)])
    assert cluster.handler2.wait_messages(1) == [append(1)]

    cluster.server2.stop(0)
    assert wait_until(lambda: _send_reports_unreachable(cluster, 2))
    assert (CHANNEL, NodeId(2)) in cluster.handler1.unreachable

    restarted = RecordingHandler()
    cluster.start_server(cluster.tls2, restarted, cluster.membership2, address=f"127.0.0.1:{port}")
    assert wait_until(lambda: _delivered_after_send(cluster, restarted, 3))


def _send_reports_unreachable(cluster: Cluster, index: int) -> bool:
    cluster.transport1.send(CHANNEL, [append(index)])
    time.sleep(0.05)
    return bool(cluster.handler1.unreachable)


def _delivered_after_send(cluster: Cluster, handler: RecordingHandler, index: int) -> bool:
    cluster.transport1.send(CHANNEL, [append(index)])
    time.sleep(0.05)
    return append(index) in handler.messages()


def test_unknown_destination_is_reported_unreachable(cluster: Cluster) -> None:
    cluster.transport1.send(CHANNEL, [append(1, to=7)])
    assert cluster.handler1.wait_unreachable() == [(CHANNEL, NodeId(7))]


def test_queue_overflow_drops_and_reports(cluster: Cluster) -> None:
    small = TransportOptions(queue_size=10, connect_timeout_s=1.0)
    transport = GrpcClusterTransport(
        cluster.pki.client_tls(cluster.tls1), cluster.handler1, options=small
    )
    cluster.stack.callback(transport.close)
    transport.update_consenters(CHANNEL, cluster.consenters)
    # One call larger than the queue: the tail that does not fit is dropped at once.
    transport.send(CHANNEL, [append(i) for i in range(1, 31)])
    assert cluster.handler1.wait_unreachable() == [(CHANNEL, NodeId(2))]
    received = cluster.handler2.wait_messages(10)
    assert received == [append(i) for i in range(1, 11)]


def test_org_ca_fallback_when_config_has_no_client_cert(cluster: Cluster) -> None:
    """Without a client_tls_cert in the config, a cert from the orderer org's TLS CA
    and the claimed id are accepted; a cert from another CA is not."""
    node3 = cluster.pki.issue("orderer3.example.com")
    evil = cluster.pki.issue("orderer3.evil.example.com", foreign=True)
    handler = RecordingHandler()
    membership = ClusterMembership()
    server = cluster.start_server(cluster.tls2, handler, membership, trust_foreign=True)
    consenters = (consenter(2, cluster.tls2, server.port), consenter(3, node3, 1, with_cert=False))
    membership.update(CHANNEL, consenters, {ORDERER_MSP: (cluster.pki.ca_pem,)})

    good = cluster.transport(node3, RecordingHandler(), consenters, self_id=3)
    good.send(CHANNEL, [append(1, sender=3)])
    assert handler.wait_messages(1) == [append(1, sender=3)]
    assert good.forward(CHANNEL, NodeId(2), b"e", 5.0).status == 200
    assert handler.forwarded == [(CHANNEL, NodeId(3), b"e")]

    bad_handler = RecordingHandler()
    bad = cluster.transport(evil, bad_handler, consenters, self_id=3)
    bad.send(CHANNEL, [append(2, sender=3)])
    assert bad_handler.wait_unreachable() == [(CHANNEL, NodeId(2))]
    assert bad.forward(CHANNEL, NodeId(2), b"e", 5.0).status == 503
    assert handler.messages() == [append(1, sender=3)]


def test_close_does_not_wait_out_a_connect_attempt(cluster: Cluster) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]  # bound, never listening: connections fail
        slow = TransportOptions(connect_timeout_s=30.0)
        transport = GrpcClusterTransport(cluster.pki.client_tls(cluster.tls1), options=slow)
        transport.update_consenters(CHANNEL, (consenter(2, cluster.tls2, dead_port),))
        transport.send(CHANNEL, [append(1)])
        time.sleep(0.2)
        started = time.monotonic()
        transport.close()
        assert time.monotonic() - started < 5.0


def test_forwards_are_pipelined_in_order_with_one_answer_each(cluster: Cluster) -> None:
    envelopes = [f"envelope-{i}".encode() for i in range(300)]
    futures = [cluster.transport1.forward_async(CHANNEL, NodeId(2), e, 5.0) for e in envelopes]
    assert [f.result() for f in futures] == [ForwardResult(200, "queued")] * len(envelopes)
    assert cluster.handler2.forwarded == [(CHANNEL, NodeId(1), e) for e in envelopes]


def test_submit_stream_answers_each_envelope_of_a_batch_in_order(cluster: Cluster) -> None:
    stub = cluster.raw_stub(cluster.pki.client_tls(cluster.tls1))
    requests = [
        cluster_pb2.SubmitBatchRequest(channel=CHANNEL, envelopes=[b"a", b"b", b"c"]),
        cluster_pb2.SubmitBatchRequest(channel="secret", envelopes=[b"d", b"e"]),
        cluster_pb2.SubmitBatchRequest(channel=CHANNEL, envelopes=[b"f"]),
    ]
    responses = list(stub.SubmitStream(iter(requests), timeout=5))
    assert [[r.status for r in batch.results] for batch in responses] == [
        [200, 200, 200],
        [503, 503],  # a refused channel does not end the stream of the others
        [200],
    ]
    assert "unknown channel" in responses[1].results[0].info
    assert [e for _, _, e in cluster.handler2.forwarded] == [b"a", b"b", b"c", b"f"]


def test_a_cached_sender_is_refused_once_removed_from_the_channel(cluster: Cluster) -> None:
    assert cluster.transport1.forward(CHANNEL, NodeId(2), b"before", 5.0).status == 200
    cluster.membership2.update(
        CHANNEL, cluster.consenters[1:], {ORDERER_MSP: (cluster.pki.ca_pem,)}
    )
    refused = cluster.transport1.forward(CHANNEL, NodeId(2), b"after", 5.0)
    assert refused.status == 503
    assert cluster.handler2.forwarded == [(CHANNEL, NodeId(1), b"before")]
