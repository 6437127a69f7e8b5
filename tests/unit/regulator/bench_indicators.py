"""Indicator query latency on a small and a large indicator store (issue 7:
"a query costs the same on a ledger of 1 block or 1,000,000").

    PYTHONPATH=. .venv/bin/python -m tests.unit.regulator.bench_indicators [N ...]

For each N (default 100 and 100,000) it feeds N synthetic transactions (voucher
issues and status changes over 20 issuers × 2 currencies × ~400 maturity dates,
and receipt loans over 5 banks) through `apply_records`, 100 per block, each
block one sync batch, then times Exposure / Overdue / LtvDistribution.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peer.regulator import queries
from peer.regulator.detectors import DetectorConfig
from peer.regulator.indicators import apply_records
from peer.regulator.store import IndicatorStore, StoreReader
from tests.unit.regulator.synthetic import Load

CH = "trade"
PER_BLOCK = 100


def timed(fn: Callable[[], Any], runs: int = 300) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def _in_snapshot(store: IndicatorStore, query: Callable[[StoreReader], Any]) -> Any:
    """What the service does per query: one consistent snapshot."""
    with store.snapshot() as view:
        return query(view)


def run(n: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        store = IndicatorStore.open(Path(d) / "regulator.db")
        try:
            load = Load(7, issuers=20, dates=400)
            start = time.perf_counter()
            txs = load.transactions(n)
            number = 0
            while True:
                chunk = [tx for _, tx in zip(range(PER_BLOCK), txs, strict=False)]
                if not chunk:
                    break
                apply_records(
                    store, CH, number, number.to_bytes(32, "big"), chunk, DetectorConfig()
                )
                number += 1
            ingest = time.perf_counter() - start
            rows = len(queries.exposure(store, [CH], "", ""))
            print(
                f"N={n:>7} txs  blocks={number}  ingest {ingest:.1f}s "
                f"({n / ingest:,.0f} tx/s)  issuer×ccy rows={rows}"
            )
            cases: dict[str, Callable[[StoreReader], Any]] = {
                "Exposure (all issuers)": lambda v: queries.exposure(v, [CH], "", ""),
                "Exposure (one issuer)": lambda v: queries.exposure(v, [CH], "Core3MSP", ""),
                "Overdue (all issuers)": lambda v: queries.overdue(v, [CH], "", ""),
                "LtvDistribution (all)": lambda v: queries.ltv_distribution(v, [CH], ""),
            }
            for name, query in cases.items():
                median, p99 = timed(lambda q=query: _in_snapshot(store, q))  # type: ignore[misc]
                print(f"    {name:<24} median {median:7.3f} ms   p99 {p99:7.3f} ms")
        finally:
            store.close()


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["100", "100000"]:
        run(int(arg))
