"""Data for the regulator console tests: the in-process regulator network of
`tests.unit.regulator.net` with a short voucher story (issue, accept, split,
transfer down two tiers, finance), a circular transfer and a reused invoice hash,
served by a real `RegulatorService` over gRPC and read back through the client's
`RegulatorClient` — the same path `scf regulator console` takes."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc

from client.regulator import RegulatorClient
from client.regulator_console import ConsoleServer
from peer.regulator.service import RegulatorService, StaticChannels
from protos.scf import regulator_pb2_grpc
from tests.unit.regulator.net import CHANNEL, Net, sha, underlying

FACE = 100_000_000
"""V1's face amount (fen): 1,000,000.00."""


@dataclass
class Console:
    net: Net
    client: RegulatorClient
    server: ConsoleServer
    tx: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url


def story(net: Net) -> dict[str, str]:
    """Run the story; returns the txids by name."""
    tx: dict[str, str] = {}
    tx["issue"] = net.issue("V1", FACE)
    net.run(
        "s1",
        "receivable",
        "SplitVoucher",
        {"voucher_id": "V1", "amounts": [60_000_000, 40_000_000]},
    )
    net.run("s1", "receivable", "TransferVoucher", {"voucher_id": "V1-2", "to": "Supplier2MSP"})
    net.run(
        "s2",
        "receivable",
        "TransferVoucher",
        {"voucher_id": "V1-2", "to": "Supplier3MSP", "amount": 15_000_000},
    )
    net.run(
        "s3", "receivable", "RequestFinancing", {"voucher_id": "V1-2-1", "financier": "BankMSP"}
    )
    net.run(
        "bank",
        "receivable",
        "ApproveFinancing",
        {"voucher_id": "V1-2-1", "rate_bps": 350, "registration_ref": "REG-V1-2-1"},
    )
    # A circular transfer: Supplier1 → Supplier2 → Supplier3 → Supplier1.
    tx["c_issue"] = net.issue("C1", 10_000_000)
    tx["c1"], _ = net.run(
        "s1", "receivable", "TransferVoucher", {"voucher_id": "C1", "to": "Supplier2MSP"}
    )
    tx["c2"], _ = net.run(
        "s2", "receivable", "TransferVoucher", {"voucher_id": "C1", "to": "Supplier3MSP"}
    )
    tx["c3"], _ = net.run(
        "s3", "receivable", "TransferVoucher", {"voucher_id": "C1", "to": "Supplier1MSP"}
    )
    # The invoice of V1 used again under another root.
    tx["dup"] = net.issue(
        "D1", 5_000_000, docs=underlying("D1", invoice_hashes=[sha("invoice V1")])
    )
    return tx


@contextmanager
def console(tmp_path: Path) -> Iterator[Console]:
    net = Net(tmp_path)
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    channel: grpc.Channel | None = None
    try:
        tx = story(net)
        channels = StaticChannels()
        channels.add(CHANNEL, net.ledger, lambda: net.bundle)
        service = RegulatorService(channels, net.store, net.hub)
        regulator_pb2_grpc.add_RegulatorServicer_to_server(service, grpc_server)  # type: ignore[no-untyped-call]
        port = grpc_server.add_insecure_port("127.0.0.1:0")
        grpc_server.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        client = RegulatorClient(channel, net.ids["regulator"], target=f"127.0.0.1:{port}")
        server = ConsoleServer(client, channel=CHANNEL)
        server.start()
        try:
            yield Console(net, client, server, tx)
        finally:
            server.stop()
    finally:
        if channel is not None:
            channel.close()
        grpc_server.stop(None).wait()
        net.close()
