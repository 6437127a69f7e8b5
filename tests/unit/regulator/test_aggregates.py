"""The incremental aggregates equal a brute-force recomputation from the final
voucher states: exposure buckets (Fenwick prefix sums over maturity days) for
any as-of date, overdue sums and the oldest overdue maturity, LTV buckets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from peer.regulator import queries
from peer.regulator.detectors import DetectorConfig
from peer.regulator.indicators import apply_records
from peer.regulator.projections import LIVE
from peer.regulator.store import IndicatorStore
from tests.unit.regulator.synthetic import BASE, Load

CH = "trade"


@pytest.mark.parametrize("seed", range(4))
def test_aggregates_match_brute_force(tmp_path: Path, seed: int) -> None:
    load = Load(seed, issuers=3, dates=400)
    store = IndicatorStore.open(tmp_path / "r.db")
    try:
        txs = list(load.transactions(600))
        for number in range(0, len(txs), 50):
            apply_records(
                store,
                CH,
                number // 50,
                bytes([number % 256]) * 32,
                txs[number : number + 50],
                DetectorConfig(),
            )
        for as_of in (BASE - dt.timedelta(days=40), BASE, BASE + dt.timedelta(days=95)):
            expected: dict[tuple[str, str], dict[str, int]] = {}
            oldest: dict[tuple[str, str], int] = {}
            for issuer, amount, ccy, maturity, status in load.live.values():
                if status not in LIVE:
                    continue
                days = (dt.date.fromisoformat(maturity) - as_of).days
                bucket = expected.setdefault((issuer, ccy), {})
                label = queries.bucket_of(days)
                bucket[label] = bucket.get(label, 0) + amount
                if status in ("OVERDUE", "DEFAULTED"):
                    oldest[(issuer, ccy)] = max(oldest.get((issuer, ccy), -(10**6)), -days)
            rows = queries.exposure(store, [CH], "", as_of.isoformat())
            got = {
                (r.issuer, r.currency): {
                    b.label: b.live_face for b in r.buckets.values() if b.live_face
                }
                for r in rows
            }
            assert got == expected
            for r in rows:
                assert r.live_face == sum(expected[(r.issuer, r.currency)].values())
            overdue, _ = queries.overdue(store, [CH], "", as_of.isoformat())
            assert {(o.issuer, o.currency): o.max_days_overdue for o in overdue} == oldest
    finally:
        store.close()
