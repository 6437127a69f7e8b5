"""Indicator query latency through the real gRPC Regulator service, end to end:
request signed by the regulator's identity (`client.regulator.RegulatorClient`),
authorised by the server (MSP chain, signature, org kind, Readers), answered from
the indicator store, decoded by the client.

    PYTHONPATH=. .venv/bin/python -m tests.unit.regulator_client.bench_service [N ...]

For each N (default 100 and 100,000) the store of an in-process regulator channel
(`tests.unit.regulator.net.Net`: real orgs and certificates) is fed N synthetic
transactions (`tests.unit.regulator.synthetic.Load`: 20 issuers × 2 currencies ×
~400 maturity dates, loans over 5 banks), 100 per block, then each query is timed
over `RUNS` calls on one gRPC channel (loopback, plaintext).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc

from client.regulator import RegulatorClient
from peer.regulator.detectors import DetectorConfig
from peer.regulator.indicators import apply_records
from peer.regulator.service import RegulatorService, StaticChannels
from protos.scf import regulator_pb2_grpc
from tests.unit.regulator.net import CHANNEL, Net
from tests.unit.regulator.synthetic import Load

PER_BLOCK = 100
RUNS = 300


def timed(fn: Callable[[], Any], runs: int = RUNS) -> tuple[float, float]:
    for _ in range(10):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def run(n: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        net = Net(Path(d))
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        try:
            load = Load(7, issuers=20, dates=400)
            txs = load.transactions(n)
            number = net.store.height(CHANNEL)
            while True:
                chunk = [tx for _, tx in zip(range(PER_BLOCK), txs, strict=False)]
                if not chunk:
                    break
                apply_records(
                    net.store, CHANNEL, number, number.to_bytes(32, "big"), chunk, DetectorConfig()
                )
                number += 1
            channels = StaticChannels()
            channels.add(CHANNEL, net.ledger, lambda: net.bundle)
            service = RegulatorService(channels, net.store, net.hub)
            regulator_pb2_grpc.add_RegulatorServicer_to_server(service, server)  # type: ignore[no-untyped-call]
            port = server.add_insecure_port("127.0.0.1:0")
            server.start()
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                client = RegulatorClient(channel, net.ids["regulator"])
                rows = len(client.exposure())
                calls = len(client.ltv(max_pages=1).margin_calls)
                print(
                    f"N={n:>7} txs  indicator blocks={number}  issuer×ccy rows={rows}  "
                    f"margin calls on page 1={calls}"
                )
                cases: dict[str, Callable[[], Any]] = {
                    "Exposure (all issuers)": lambda: client.exposure(),
                    "Exposure (one issuer)": lambda: client.exposure(issuer="Core3MSP"),
                    "Overdue (all issuers)": lambda: client.overdue(),
                    "LtvDistribution (page 1)": lambda: client.ltv(max_pages=1),
                    "Alerts (page 1)": lambda: client.alerts(max_pages=1),
                }
                for name, call in cases.items():
                    median, p99 = timed(call)
                    print(f"    {name:<24} median {median:7.3f} ms   p99 {p99:7.3f} ms")
        finally:
            server.stop(None).wait()
            net.close()


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["100", "100000"]:
        run(int(arg))
