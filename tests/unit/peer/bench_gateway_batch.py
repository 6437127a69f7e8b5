"""CPU per item of `scf.GatewayBatch` EndorseBatch and SubmitBatch on a gateway peer.

Run: `.venv/bin/python -m tests.unit.peer.bench_gateway_batch [items] [batches]
[runs]` (defaults 100, 20, 5). Everything runs in this one process, so
`time.process_time()` counts every end: the gateway (`GatewayBatchServicer` called
directly, without its own gRPC front), its local CoreMSP endorser (the real
`Endorser`), the remote BankMSP endorser behind a `PeerServer` over mutual TLS
(`scf.EndorserBatch` and `protos.Endorser`), and an orderer over mutual TLS that
answers SUCCESS at once (`scf.BroadcastBatch` and `orderer.AtomicBroadcast`).
Prints the median and least CPU µs per item. A script, not a timed test.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from typing import cast

import grpc

from common import tls
from peer.committer import Committer, TxStatusWaiters
from peer.endorser.batch import EndorserBatchServicer
from peer.endorser.endorser import EndorserServicer
from peer.gateway import GatewayBatchServicer, GatewayServicer, RemotePeer
from peer.gateway.clients import CoalescingEndorserClient, GrpcBroadcastClient
from peer.ledger import MemoryLedger
from peer.server import PeerServer
from protos.common import common_pb2
from protos.gateway import gateway_pb2
from protos.orderer import ab_pb2, ab_pb2_grpc
from protos.peer import peer_pb2_grpc
from protos.scf import batch_pb2, batch_pb2_grpc
from tests.unit.peer.bench_endorse_batch import _mutual_tls
from tests.unit.peer.endorser.world import CHANNEL, make_world, propose
from tests.unit.peer.gateway.harness import BANK_ADDRESS, FakeSupport, sign_prepared


class Orderer(ab_pb2_grpc.AtomicBroadcastServicer, batch_pb2_grpc.BroadcastBatchServicer):
    """SUCCESS for every envelope, at once, on either service."""

    def Broadcast(
        self, request_iterator: Iterator[common_pb2.Envelope], context: grpc.ServicerContext
    ) -> Iterator[ab_pb2.BroadcastResponse]:
        for _ in request_iterator:
            yield ab_pb2.BroadcastResponse(status=common_pb2.SUCCESS)

    def BroadcastEnvelopes(
        self, request: batch_pb2.EnvelopeBatch, context: grpc.ServicerContext
    ) -> batch_pb2.BroadcastResponseBatch:
        ok = ab_pb2.BroadcastResponse(status=common_pb2.SUCCESS)
        return batch_pb2.BroadcastResponseBatch(responses=[ok] * len(request.envelopes))


class _Context:
    """The servicer context of a call that stays active."""

    def add_callback(self, callback: object) -> bool:
        return True

    def is_active(self) -> bool:
        return True


def _median_min(values: Sequence[float]) -> str:
    ordered = sorted(values)
    return f"median {ordered[len(ordered) // 2]:6.0f} min {ordered[0]:6.0f}"


def main() -> None:
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    batches = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    world = make_world()
    ledger = MemoryLedger()
    waiters = TxStatusWaiters(ledger)
    committer = Committer(ledger, world.bundle, listeners=[waiters])
    committer.commit_block(world.genesis())
    server_tls, client_tls = _mutual_tls()
    bank_server = PeerServer("127.0.0.1:0", server_tls)
    bank = world.endorser(world.bank_peer, ledger)
    peer_pb2_grpc.add_EndorserServicer_to_server(EndorserServicer(bank), bank_server.server)  # type: ignore[no-untyped-call]
    batch_pb2_grpc.add_EndorserBatchServicer_to_server(  # type: ignore[no-untyped-call]
        EndorserBatchServicer(bank), bank_server.server
    )
    orderer_server = PeerServer("127.0.0.1:0", server_tls)
    orderer = Orderer()
    ab_pb2_grpc.add_AtomicBroadcastServicer_to_server(orderer, orderer_server.server)  # type: ignore[no-untyped-call]
    batch_pb2_grpc.add_BroadcastBatchServicer_to_server(orderer, orderer_server.server)  # type: ignore[no-untyped-call]
    bank_port, orderer_port = bank_server.start(), orderer_server.start()
    options = tls.channel_options()
    bank_channel = grpc.secure_channel(f"127.0.0.1:{bank_port}", client_tls.credentials(), options)
    orderer_channel = grpc.secure_channel(
        f"127.0.0.1:{orderer_port}", client_tls.credentials(), options
    )
    support = FakeSupport(
        world,
        ledger,
        committer,
        waiters,
        local=world.endorser(world.core_peer, ledger),
        remotes=[(RemotePeer("BankMSP", BANK_ADDRESS), CoalescingEndorserClient(bank_channel))],
        orderers=[("orderer0:7050", GrpcBroadcastClient(orderer_channel))],
    )
    gateway = GatewayServicer(support)
    batch = GatewayBatchServicer(gateway)
    context = cast(grpc.ServicerContext, _Context())

    def endorse_requests(n: int, tag: str) -> list[gateway_pb2.EndorseRequest]:
        requests = []
        for i in range(n):
            signed, parsed = propose(world.alice, "Put", {"key": f"{tag}{i}", "value": "v"})
            requests.append(
                gateway_pb2.EndorseRequest(
                    transaction_id=parsed.tx_id, channel_id=CHANNEL, proposed_transaction=signed
                )
            )
        return requests

    print(f"{items} items per batch, {batches} batches per run, {runs} runs, mutual TLS")
    endorse_cpu: list[float] = []
    submit_cpu: list[float] = []
    try:
        for run in range(runs + 1):  # the first run warms up (connections, caches)
            work = [endorse_requests(items, f"r{run}b{b}k") for b in range(batches)]
            start = time.process_time()
            outcomes = [
                batch.EndorseBatch(batch_pb2.EndorseRequests(requests=w), context) for w in work
            ]
            cpu = time.process_time() - start
            submits = [
                batch_pb2.SubmitRequests(
                    requests=[
                        gateway_pb2.SubmitRequest(
                            channel_id=CHANNEL,
                            prepared_transaction=sign_prepared(
                                world.alice, o.response.prepared_transaction
                            ),
                        )
                        for o in reply.outcomes
                    ]
                )
                for reply in outcomes
            ]
            assert all(o.HasField("response") for r in outcomes for o in r.outcomes)
            start = time.process_time()
            answers = [batch.SubmitBatch(s, context) for s in submits]
            submit = time.process_time() - start
            assert all(o.HasField("response") for r in answers for o in r.outcomes)
            if run:
                endorse_cpu.append(cpu / (items * batches) * 1e6)
                submit_cpu.append(submit / (items * batches) * 1e6)
    finally:
        bank_channel.close()
        orderer_channel.close()
        bank_server.stop(0)
        orderer_server.stop(0)
        committer.close()
    print(f"EndorseBatch CPU µs/item {_median_min(endorse_cpu)}")
    print(f"SubmitBatch  CPU µs/item {_median_min(submit_cpu)}")


if __name__ == "__main__":
    main()
