"""CPU per remote endorsement: unary `protos.Endorser/ProcessProposal` calls
(`GrpcEndorserClient`) against coalesced `scf.EndorserBatch/ProcessProposals`
batches (`CoalescingEndorserClient`).

Run: `.venv/bin/python -m tests.unit.peer.bench_endorse_batch [proposals] [callers]
[runs]` (defaults 2000, 16, 5). Client and server run in this one process, over
mutual TLS on loopback through a `PeerServer` (the node's server, with its limits),
so `time.process_time()` counts both ends. Two processors stand behind the server:
`echo` answers at once (what is left is the gRPC cost) and `endorse` is the real
`Endorser` (a `Get` on the bench chaincode: checks, simulation, signature). Runs
alternate between the clients; prints the median and least CPU µs per endorsement,
the median wall µs, and the batch calls per endorsement. A script, not a timed test.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from datetime import UTC, datetime

import grpc

from common import crypto, tls
from common.msp import CertificateAuthority
from peer.endorser.batch import EndorserBatchServicer
from peer.endorser.endorser import EndorserServicer, ProposalProcessor
from peer.gateway.clients import CoalescingEndorserClient, GrpcEndorserClient
from peer.gateway.support import EndorserClient
from peer.ledger import MemoryLedger
from peer.server import PeerServer
from protos.peer import peer_pb2_grpc, proposal_pb2, proposal_response_pb2
from protos.scf import batch_pb2, batch_pb2_grpc
from tests.unit.peer.endorser.world import make_world, propose


class Echo:
    def process_proposal(
        self, signed: proposal_pb2.SignedProposal, /, min_height: int = 0
    ) -> proposal_response_pb2.ProposalResponse:
        return proposal_response_pb2.ProposalResponse(
            response=proposal_response_pb2.Response(status=200, payload=signed.proposal_bytes)
        )


class CountingBatches(EndorserBatchServicer):
    def __init__(self, endorser: ProposalProcessor) -> None:
        super().__init__(endorser)
        self.calls = 0
        self._lock = threading.Lock()

    def ProcessProposals(
        self, request: batch_pb2.ProposalBatch, context: grpc.ServicerContext
    ) -> batch_pb2.ProposalResponseBatch:
        with self._lock:
            self.calls += 1
        return super().ProcessProposals(request, context)


def _mutual_tls() -> tuple[tls.ServerTls, tls.ClientTls]:
    not_before, not_after = datetime(2024, 1, 1, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC)
    ca = CertificateAuthority.create_root("tlsca.bench", not_before=not_before, not_after=not_after)
    ca_pem = crypto.certificate_to_pem(ca.certificate)

    def issue(name: str) -> tuple[bytes, bytes]:
        key = crypto.generate_private_key()
        cert = ca.issue(
            key.public_key(),
            name,
            not_before=not_before,
            not_after=not_after,
            organization="BenchMSP",
            sans=("127.0.0.1", "localhost"),
            server_auth=True,
            client_auth=True,
        )
        return crypto.certificate_to_pem(cert), crypto.private_key_to_pem(key)

    server_cert, server_key = issue("peer0.bench")
    client_cert, client_key = issue("peer1.bench")
    server = tls.ServerTls.load(server_cert, server_key, [ca_pem], require_client_auth=True)
    return server, tls.ClientTls.load([ca_pem], client_cert, client_key)


def _run(
    client: EndorserClient,
    proposals: Sequence[proposal_pb2.SignedProposal],
    callers: int,
    batch_calls: Callable[[], int],
) -> tuple[float, float, int]:
    """(CPU s, wall s, batch calls) for endorsing every proposal from `callers`
    threads, after a warm-up."""
    with futures.ThreadPoolExecutor(max_workers=callers) as pool:
        list(pool.map(client.process_proposal, proposals[:100]))  # connect, warm up
        calls, cpu, wall = batch_calls(), time.process_time(), time.perf_counter()
        answers = list(pool.map(client.process_proposal, proposals))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        calls = batch_calls() - calls
    assert all(a.response.status == 200 for a in answers), "an endorsement failed"
    return cpu, wall, calls


def measure(
    name: str,
    processor: ProposalProcessor,
    proposals: Sequence[proposal_pb2.SignedProposal],
    callers: int,
    repeat: int,
) -> None:
    server_tls, client_tls = _mutual_tls()
    server = PeerServer("127.0.0.1:0", server_tls)
    batches = CountingBatches(processor)
    peer_pb2_grpc.add_EndorserServicer_to_server(EndorserServicer(processor), server.server)  # type: ignore[no-untyped-call]
    batch_pb2_grpc.add_EndorserBatchServicer_to_server(batches, server.server)  # type: ignore[no-untyped-call]
    port = server.start()
    clients: list[tuple[str, Callable[[grpc.Channel], EndorserClient]]] = [
        ("unary", GrpcEndorserClient),
        ("batched", CoalescingEndorserClient),
    ]
    runs: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in clients}
    calls = 0
    try:
        for _ in range(repeat):  # interleaved, so load from elsewhere hits both alike
            for label, make in clients:
                with grpc.secure_channel(
                    f"127.0.0.1:{port}", client_tls.credentials(), options=tls.channel_options()
                ) as channel:
                    cpu, wall, count = _run(
                        make(channel), proposals, callers, lambda: batches.calls
                    )
                    runs[label].append((cpu, wall))
                    calls += count
    finally:
        server.stop(0)
    n = len(proposals)
    for label, results in runs.items():
        cpu = sorted(c / n * 1e6 for c, _ in results)
        wall = sorted(w / n * 1e6 for _, w in results)
        extra = f"  ({calls / repeat / n:.2f} calls/endorsement)" if label == "batched" else ""
        print(
            f"{name:8} {label:8} CPU µs/endorsement median {cpu[len(cpu) // 2]:5.0f} "
            f"min {cpu[0]:5.0f}  wall µs median {wall[len(wall) // 2]:5.0f}{extra}"
        )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    callers = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    repeat = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    print(
        f"{count} proposals, {callers} concurrent callers, mutual TLS, one process, {repeat} runs"
    )
    echo = [proposal_pb2.SignedProposal(proposal_bytes=b"p%06d" % i) for i in range(count)]
    measure("echo", Echo(), echo, callers, repeat)
    world = make_world()
    ledger = MemoryLedger()
    ledger.commit(world.genesis(), [0], [])
    real = [propose(world.alice, "Get", {"key": f"k{i}"})[0] for i in range(count)]
    measure("endorse", world.endorser(world.core_peer, ledger), real, callers, repeat)


if __name__ == "__main__":
    main()
