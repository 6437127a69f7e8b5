"""Synthetic write sets for the indicator tables: voucher and loan records shaped
exactly as the contracts write them, fed through `apply_records` (the listener's
per-block entry point) without endorsing each one. Used by the Fenwick property
test and by the latency benchmark."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from chaincode.contracts.receivable_model import root_key, voucher_key
from chaincode.contracts.warehouse_rules import loan_key
from peer.regulator.indicators import TxRecord

BASE = dt.date(2025, 6, 15)
STATUSES = ("ACTIVE", "FINANCED", "OVERDUE", "DEFAULTED", "PAID", "PENDING_ACCEPTANCE")


def voucher(vid: str, issuer: str, amount: int, ccy: str, maturity: str, status: str) -> bytes:
    financed = status in ("FINANCED", "OVERDUE") and amount % 2 == 0
    return json.dumps(
        {
            "voucher_id": vid,
            "root_id": vid,
            "parent_id": None,
            "depth": 0,
            "issuer": issuer,
            "holder": "Supplier1MSP",
            "amount": amount,
            "currency": ccy,
            "status": status,
            "issue_date": "2025-01-01",
            "maturity_date": maturity,
            "created_tx": f"tx-{vid}",
            "updated_tx": f"tx-{vid}",
            "children": [],
            "financing": {"financier": "BankMSP"} if financed else None,
            "long_tenor": False,
            "underlying": {"contract_hash": "", "invoice_hashes": []},
        }
    ).encode()


def loan(bank: str, loan_id: str, outstanding: int, value: int, status: str) -> bytes:
    return json.dumps(
        {
            "bank": bank,
            "loan_id": loan_id,
            "borrower": "Supplier1MSP",
            "status": status,
            "currency": "CNY",
            "outstanding": outstanding,
            "cash_margin": 0,
            "collateral_value": value,
            "ltv_bps": outstanding * 10_000 // value,
            "margin_call_due": "2025-07-01" if status == "MARGIN_CALL" else None,
            "status_history": [{"status": status, "tx_id": f"tx-{loan_id}", "ts": 0}],
            "receipts": [],
        }
    ).encode()


@dataclass
class Load:
    """A deterministic stream of transactions: new vouchers, updates of earlier
    ones (status changes) and receipt loans; `live` mirrors the final state."""

    seed: int
    issuers: int = 20
    dates: int = 365
    rng: random.Random = field(init=False)
    live: dict[str, tuple[str, int, str, str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def transactions(self, count: int, start: int = 0) -> Iterator[TxRecord]:
        rng = self.rng
        for n in range(start, start + count):
            writes: list[tuple[str, str, bytes | None]] = []
            if n % 10 == 9:
                bank = f"Bank{n % 5}MSP"
                outstanding = rng.randrange(1, 90) * 1_000_000
                status = rng.choice(("PLEDGED", "PLEDGED", "MARGIN_CALL", "RELEASED"))
                writes.append(
                    (
                        "warehouse",
                        loan_key(bank, f"L{n}"),
                        loan(bank, f"L{n}", outstanding, 100_000_000, status),
                    )
                )
            elif self.live and n % 3 == 2:
                # An earlier voucher id (loans and updates take some numbers: skip those).
                vid = f"V{rng.randrange(n)}"
                if vid in self.live:
                    issuer, amount, ccy, maturity, _ = self.live[vid]
                    status = rng.choice(STATUSES)
                    self.live[vid] = (issuer, amount, ccy, maturity, status)
                    writes.append(
                        (
                            "receivable",
                            voucher_key(vid),
                            voucher(vid, issuer, amount, ccy, maturity, status),
                        )
                    )
            if not writes:
                vid = f"V{n}"
                issuer = f"Core{rng.randrange(self.issuers)}MSP"
                ccy = rng.choice(("CNY", "CNY", "USD"))
                amount = rng.randrange(1, 10_000) * 10_000
                offset = rng.randrange(-30, self.dates)
                maturity = (BASE + dt.timedelta(days=offset)).isoformat()
                status = rng.choice(STATUSES[:4])
                self.live[vid] = (issuer, amount, ccy, maturity, status)
                record: dict[str, Any] = {"root_id": vid, "issuer": issuer, "face_total": amount}
                writes.append(
                    (
                        "receivable",
                        voucher_key(vid),
                        voucher(vid, issuer, amount, ccy, maturity, status),
                    )
                )
                writes.append(("receivable", root_key(vid), json.dumps(record).encode()))
            yield TxRecord(n, f"tx{n}", 1_750_000_000 + n, "receivable", tuple(writes), "", {})
