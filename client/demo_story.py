"""The paper's Figure 1 as a script over the SDK: one voucher from the core
enterprise down three supplier tiers to a bank, a warehouse receipt pledged to
the same bank, and the regulator reading it all back.

The story (amounts in fen, CNY minor units; "today" is the platform date,
Asia/Shanghai, as the contracts' transaction timestamps are):

1. core/Treasurer issues voucher V of CNY 1,000,000.00 to Supplier1MSP, an SME:
   goods delivered today, maturity = delivery + 60 days (Decree 802's SME term),
   contract and invoice hashes as trade background.
2. supplier1 accepts (确权); splits V into [600,000.00, 400,000.00]; transfers
   V-2 (400,000.00) to Supplier2MSP.
3. supplier2 transfers 150,000.00 of V-2 to Supplier3MSP (an atomic split into
   V-2-1 / V-2-2 and a transfer of V-2-1).
4. supplier3 asks BankMSP to finance V-2-1; the bank approves at 350 bp with a
   registration ref → FINANCED, holder BankMSP, interest on ACT/360.
5. The warehouse registers a site, attests 50 t of copper, issues a 20 t receipt
   to Supplier1MSP; bank/Appraiser values it (CNY 70,000.00/t, 10% haircut);
   supplier1 pledges it to BankMSP for CNY 800,000.00 (cap: 70% LTV).
6. regulator/Auditor1 reads the lineage (leaves sum to the face amount), the
   issuer's outstanding, and the pledge loan.

Every step checks the contract's answer against what the rules say it must be;
a mismatch is a `DemoError` with code `DEMO_CHECK_FAILED`. Ids carry a random
tag so the story can run again on the same ledger.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from client.demo_plan import (
    ATTESTED_KG,
    CHANNEL,
    DAY_BASIS,
    FACE,
    HAIRCUT_BPS,
    INSURED,
    LOAN_DAYS,
    LTV_MAX_BPS,
    PRICE_PER_TONNE,
    PRINCIPAL,
    RATE_BPS,
    RECEIPT_KG,
    SME_PAYMENT_DAYS,
    TIER1_KEEPS,
    TO_TIER2,
    TO_TIER3,
    DemoError,
    OnStep,
    Plan,
    Step,
    StoryResult,
    fen,
    sha_hex,
)
from client.errors import CommitError
from client.gateway import Gateway
from client.profile import load_profile
from common.errors import ScfError

__all__ = ["Story"]

RETRY_CODES = frozenset({"NETWORK_UNREACHABLE"})
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0)


@dataclass
class Story:
    """Runs the story against the network a connection profile describes.

    `on_step` is called after each step, as it happens. `after_commit(block)` is
    called once a submit committed on the gateway peer and must return when every
    peer that endorses the next step has that block too (commit status speaks for
    one peer only; an endorser one block behind would simulate on stale state).
    A call that cannot reach its gateway peer (NETWORK_UNREACHABLE) is retried
    after `RETRY_DELAYS`, each retry reported to `on_retry`; retrying a submit is
    safe because the contracts answer a repeated `request_id` with the original
    result. Gateways are opened per (org, user) on first use, closed by `close()`.
    """

    profile: Path
    plan: Plan
    on_step: OnStep = field(default=lambda _step: None)
    after_commit: Callable[[int], None] = field(default=lambda _block: None)
    on_retry: Callable[[str, ScfError, int], None] = field(default=lambda _l, _e, _n: None)
    _gateways: dict[tuple[str, str], Gateway] = field(default_factory=dict)
    _steps: list[Step] = field(default_factory=list)
    _requests: int = 0

    # --- plumbing -------------------------------------------------------------------

    def _gateway(self, org: str, user: str) -> Gateway:
        gw = self._gateways.get((org, user))
        if gw is None:
            gw = Gateway.from_profile(self.profile, org=org, user=user)
            self._gateways[(org, user)] = gw
        return gw

    def close(self) -> None:
        for gw in self._gateways.values():
            gw.close()
        self._gateways.clear()

    def _label(self, org: str, user: str, function: str) -> str:
        return f"step {len(self._steps) + 1} ({org}/{user} {function})"

    def _call(
        self,
        org: str,
        user: str,
        chaincode: str,
        function: str,
        args: dict[str, Any],
        summary: str,
        *,
        query: bool = False,
    ) -> Step:
        label = self._label(org, user, function)
        if not query:
            self._requests += 1
            args = {"request_id": f"demo-{self.plan.tag}-{self._requests}", **args}
        contract = self._gateway(org, user).network(CHANNEL).contract(chaincode)
        for attempt, delay in enumerate((*RETRY_DELAYS, None)):
            try:
                if query:
                    raw = contract.evaluate(function, json.dumps(args))
                    tx_id: str | None = None
                    block: int | None = None
                else:
                    raw, commit = contract.submit_async(function, json.dumps(args))
                    status = commit.status()
                    if not status.successful:
                        raise CommitError(status.transaction_id, status.code, status.block_number)
                    tx_id, block = status.transaction_id, status.block_number
                    self.after_commit(block)
                break
            except ScfError as exc:
                if exc.code in RETRY_CODES and delay is not None:
                    self.on_retry(label, exc, attempt + 1)
                    time.sleep(delay)
                    continue
                message = str(exc).removeprefix(f"{exc.code}: ")
                raise DemoError(label, message, code=exc.code) from exc
        result = json.loads(raw) if raw else None
        mspid = load_profile(self.profile).org(org).mspid
        step = Step(
            len(self._steps) + 1,
            org,
            mspid,
            user,
            chaincode,
            function,
            summary,
            tx_id,
            block,
            result,
        )
        self._steps.append(step)
        self.on_step(step)
        return step

    def _expect(self, step: Step, ok: bool, what: str) -> None:
        if not ok:
            raise DemoError(
                f"step {step.number} ({step.who} {step.function})",
                f"unexpected result: expected {what}; got {json.dumps(step.result)[:400]}",
                code="DEMO_CHECK_FAILED",
            )

    # --- the story ------------------------------------------------------------------

    def run(self) -> StoryResult:
        try:
            self._vouchers()
            self._warehouse()
            lineage, exposure = self._regulator()
        finally:
            self.close()
        return StoryResult(self.plan, tuple(self._steps), lineage, exposure)

    def _vouchers(self) -> None:
        p = self.plan
        v = p.voucher_id
        underlying = {
            "contract_no": f"PO-{p.tag}",
            "contract_hash": sha_hex(f"purchase contract {p.tag}"),
            "contract_date": (p.today - dt.timedelta(days=30)).isoformat(),
            "invoice_nos": [f"INV-{p.tag}-1"],
            "invoice_hashes": [sha_hex(f"invoice {p.tag} 1")],
            "delivery_date": p.delivery_date.isoformat(),
            "delivery_proof_hash": sha_hex(f"delivery note {p.tag}"),
            "goods_desc_hash": sha_hex(f"goods {p.tag}"),
        }
        s = self._call(
            "core",
            "Treasurer",
            "receivable",
            "IssueVoucher",
            {
                "voucher_id": v,
                "payee": "Supplier1MSP",
                "amount": FACE,
                "currency": "CNY",
                "issue_date": p.today.isoformat(),
                "maturity_date": p.maturity_date.isoformat(),
                "underlying": underlying,
                "sme_flag": True,
            },
            f"issue {v} {fen(FACE)} to Supplier1MSP (SME), "
            f"matures {p.maturity_date} = delivery + {SME_PAYMENT_DAYS} d",
        )
        self._expect(s, s.result.get("status") == "PENDING_ACCEPTANCE", "PENDING_ACCEPTANCE")

        s = self._call(
            "supplier1",
            "User1",
            "receivable",
            "AcceptVoucher",
            {"voucher_id": v},
            f"accept {v} (确权) → ACTIVE",
        )
        self._expect(s, s.result.get("status") == "ACTIVE", "ACTIVE")

        s = self._call(
            "supplier1",
            "User1",
            "receivable",
            "SplitVoucher",
            {"voucher_id": v, "amounts": [TIER1_KEEPS, TO_TIER2]},
            f"split {v} → {p.child(1)} {fen(TIER1_KEEPS)} + {p.child(2)} {fen(TO_TIER2)}",
        )
        children = [c.get("voucher_id") for c in s.result.get("children", [])]
        self._expect(s, children == [p.child(1), p.child(2)], "two children -1, -2")

        s = self._call(
            "supplier1",
            "User1",
            "receivable",
            "TransferVoucher",
            {"voucher_id": p.child(2), "to": "Supplier2MSP"},
            f"transfer {p.child(2)} {fen(TO_TIER2)} to Supplier2MSP (tier 2)",
        )
        self._expect(s, s.result.get("holder") == "Supplier2MSP", "holder Supplier2MSP")

        s = self._call(
            "supplier2",
            "User1",
            "receivable",
            "TransferVoucher",
            {"voucher_id": p.child(2), "to": "Supplier3MSP", "amount": TO_TIER3},
            f"transfer {fen(TO_TIER3)} of {p.child(2)} to Supplier3MSP (tier 3): "
            f"split → {p.child(2, 1)} moves, {p.child(2, 2)} stays",
        )
        self._expect(
            s,
            s.result.get("voucher_id") == p.child(2, 1)
            and s.result.get("holder") == "Supplier3MSP"
            and s.result.get("amount") == TO_TIER3,
            f"{p.child(2, 1)} {TO_TIER3} held by Supplier3MSP",
        )

        s = self._call(
            "supplier3",
            "User1",
            "receivable",
            "RequestFinancing",
            {"voucher_id": p.child(2, 1), "financier": "BankMSP"},
            f"ask BankMSP to finance {p.child(2, 1)} {fen(TO_TIER3)} → FINANCING_PENDING",
        )
        self._expect(s, s.result.get("status") == "FINANCING_PENDING", "FINANCING_PENDING")

        s = self._call(
            "bank",
            "User1",
            "receivable",
            "ApproveFinancing",
            {
                "voucher_id": p.child(2, 1),
                "rate_bps": RATE_BPS,
                "fees": 0,
                "registration_ref": f"CRC-{p.tag}-V",
                "disbursement_ref": f"PAY-{p.tag}-1",
            },
            f"approve {p.child(2, 1)} at {RATE_BPS} bp, {p.financing_days} d ACT/{DAY_BASIS}: "
            f"interest {fen(p.interest)}, net {fen(TO_TIER3 - p.interest)} → FINANCED",
        )
        self._expect(
            s,
            s.result.get("status") == "FINANCED"
            and s.result.get("interest") == p.interest
            and s.result.get("net_proceeds") == TO_TIER3 - p.interest,
            f"FINANCED with interest {p.interest}",
        )

    def _warehouse(self) -> None:
        p = self.plan
        s = self._call(
            "warehouse",
            "User1",
            "warehouse",
            "RegisterSite",
            {
                "warehouse_id": p.site_id,
                "country": "CN",
                "is_overseas": False,
                "location": "Shanghai Waigaoqiao bonded zone, bay 3",
            },
            f"register warehouse site {p.site_id} (Shanghai, domestic)",
        )
        self._expect(s, s.result.get("operator") == "WarehouseMSP", "operator WarehouseMSP")

        s = self._call(
            "warehouse",
            "User1",
            "warehouse",
            "AttestInventory",
            {
                "warehouse_id": p.site_id,
                "sku": "CU-A",
                "unit": "kg",
                "quantity": ATTESTED_KG,
                "method": "STOCKTAKE",
            },
            f"attest {ATTESTED_KG // 1000} t of grade-A copper at {p.site_id} (stocktake)",
        )

        s = self._call(
            "warehouse",
            "User1",
            "warehouse",
            "IssueReceipt",
            {
                "warehouse_id": p.site_id,
                "depositor": "Supplier1MSP",
                "goods": {
                    "sku": "CU-A",
                    "description": "cathode copper",
                    "quality_grade": "A",
                    "unit": "kg",
                    "quantity": RECEIPT_KG,
                    "packing": "bundles",
                    "pieces": RECEIPT_KG // 2500,
                    "marks": "CU",
                    "lot_ids": [f"LOT-{p.tag}-1", f"LOT-{p.tag}-2"],
                },
                "loss_standard_ppm": 100,
                "storage_start": p.today.isoformat(),
                "storage_end": (p.today + dt.timedelta(days=365)).isoformat(),
                "storage_fee": {"amount": 500_000, "currency": "CNY"},
                "insurance": {
                    "insurer": "PICC",
                    "insured_value": INSURED,
                    "currency": "CNY",
                    "period_end": (p.today + dt.timedelta(days=365)).isoformat(),
                },
            },
            f"issue a receipt for {RECEIPT_KG // 1000} t to Supplier1MSP, insured {fen(INSURED)}",
        )
        receipt_id = s.result.get("receipt_id")
        self._expect(
            s, isinstance(receipt_id, str) and s.result.get("status") == "ACTIVE", "ACTIVE"
        )

        s = self._call(
            "bank",
            "Appraiser",
            "warehouse",
            "UpdateValuation",
            {
                "receipt_id": receipt_id,
                "unit_price": PRICE_PER_TONNE,
                "price_unit_quantity": 1000,
                "currency": "CNY",
                "haircut_bps": HAIRCUT_BPS,
            },
            f"value {receipt_id} at {fen(PRICE_PER_TONNE)}/t less {HAIRCUT_BPS // 100}% "
            f"haircut = {fen(p.collateral_value)}",
        )
        value = (s.result.get("receipt") or {}).get("valuation", {}).get("value")
        self._expect(s, value == p.collateral_value, f"value {p.collateral_value}")

        cap = p.collateral_value * LTV_MAX_BPS // 10_000
        s = self._call(
            "supplier1",
            "User1",
            "warehouse",
            "PledgeReceipt",
            {
                "receipt_id": receipt_id,
                "bank": "BankMSP",
                "loan_id": p.loan_id,
                "principal": PRINCIPAL,
                "currency": "CNY",
                "maturity_date": (p.today + dt.timedelta(days=LOAN_DAYS)).isoformat(),
                "registration_ref": f"CRC-{p.tag}-W",
            },
            f"pledge {receipt_id} to BankMSP for {fen(PRINCIPAL)} "
            f"(cap {LTV_MAX_BPS // 100}% = {fen(cap)})",
        )
        self._expect(s, s.result.get("status") == "PLEDGED", "PLEDGED")

    def _regulator(self) -> tuple[dict[str, Any], dict[str, Any]]:
        p = self.plan
        s = self._call(
            "regulator",
            "Auditor1",
            "receivable",
            "Lineage",
            {"root_id": p.voucher_id},
            f"read the lineage of {p.voucher_id}",
            query=True,
        )
        lineage: dict[str, Any] = s.result
        total = lineage.get("leaves_total")
        face = (lineage.get("root") or {}).get("face_total")
        self._expect(s, total == face == FACE, f"leaves total {FACE} = face")

        s = self._call(
            "regulator",
            "Auditor1",
            "receivable",
            "IssuerStatus",
            {"issuer": "CoreMSP"},
            "read CoreMSP's outstanding vouchers",
            query=True,
        )
        issuer = s.result
        self._expect(s, int(issuer.get("outstanding", 0)) >= FACE, f"outstanding ≥ {FACE}")

        s = self._call(
            "regulator",
            "Auditor1",
            "warehouse",
            "GetLoan",
            {"bank": "BankMSP", "loan_id": p.loan_id},
            f"read BankMSP's pledge loan {p.loan_id}",
            query=True,
        )
        loan = s.result
        self._expect(s, loan.get("principal") == PRINCIPAL, f"principal {PRINCIPAL}")

        financed = [n for n in lineage.get("nodes", []) if n.get("status") == "FINANCED"]
        voucher_financing = [
            {
                "voucher_id": n["voucher_id"],
                "financier": n["holder"],
                "face": n["amount"],
                "rate_bps": (n.get("financing") or {}).get("rate_bps"),
                "days": (n.get("financing") or {}).get("days"),
                "interest": (n.get("financing") or {}).get("interest"),
                "net_proceeds": (n.get("financing") or {}).get("net_proceeds"),
                "registration_ref": (n.get("financing") or {}).get("registration_ref"),
            }
            for n in financed
        ]
        exposure = {
            "currency": "CNY",
            "issuer": {
                "mspid": issuer.get("issuer"),
                "outstanding": issuer.get("outstanding"),
                "overdue_roots": issuer.get("overdue_roots"),
                "defaulted_roots": issuer.get("defaulted_roots"),
                "blocked": issuer.get("blocked"),
            },
            "voucher_financing": voucher_financing,
            "receipt_pledge": {
                "bank": loan.get("bank"),
                "loan_id": loan.get("loan_id"),
                "borrower": loan.get("borrower"),
                "principal": loan.get("principal"),
                "outstanding": loan.get("outstanding"),
                "collateral_value": loan.get("collateral_value"),
                "ltv_bps": loan.get("ltv_bps"),
                "ltv_max_bps": loan.get("ltv_max_bps"),
                "status": loan.get("status"),
            },
            "bank_total": {
                "BankMSP": sum(f["face"] for f in voucher_financing if f["financier"] == "BankMSP")
                + int(loan.get("outstanding") or 0)
            },
        }
        return lineage, exposure
