"""Property tests: random sequences of receivable operations by random callers.

After every step the invariants I1–I8 and I10 hold (I9 when an issuer limit is
configured), and every rejected call left the ledger exactly as it was.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaincode.errors import ChaincodeError
from chaincode.stub import Creator
from tests.unit.contracts.conftest import ORGS
from tests.unit.contracts.ledger import Clock, TestLedger
from tests.unit.contracts.receivable_support import (
    Receivables,
    all_vouchers,
    check_invariants,
    underlying,
)

CALLERS: list[Creator] = [
    ORGS.core,
    ORGS.core,
    ORGS.s1,
    ORGS.s2,
    ORGS.s3,
    ORGS.bank,
    ORGS.bank2,
    ORGS.regulator,
]
ORG_IDS = ["Supplier1MSP", "Supplier2MSP", "Supplier3MSP", "BankMSP", "Bank2MSP", "CoreMSP"]
KINDS = [
    *["split", "transfer", "finance", "approve"] * 3,
    "issue",
    "accept",
    "accept",
    "reject",
    "cancel",
    "split",
    "transfer",
    "finance",
    "approve",
    "reject_financing",
    "withdraw",
    "settle",
    "settle_root",
    "overdue",
    "default",
    "advance",
]

PREFERRED = {
    "split": ("ACTIVE",),
    "transfer": ("ACTIVE",),
    "finance": ("ACTIVE",),
    "approve": ("FINANCING_PENDING",),
    "reject_financing": ("FINANCING_PENDING",),
    "withdraw": ("FINANCING_PENDING",),
    "accept": ("PENDING_ACCEPTANCE",),
    "reject": ("PENDING_ACCEPTANCE",),
    "cancel": ("PENDING_ACCEPTANCE",),
    "settle": ("ACTIVE", "FINANCED", "OVERDUE", "DEFAULTED"),
}
"""Half the time an operation picks a voucher in a status where it can succeed."""

step = st.tuples(
    st.sampled_from(KINDS),
    st.integers(0, len(CALLERS) - 1),  # caller
    st.integers(0, 63),  # which voucher
    st.integers(0, len(ORG_IDS) - 1),  # counterparty
    st.integers(1, 400),  # a size: amount, days, rate
    st.lists(st.integers(1, 9), min_size=1, max_size=3),  # split weights
)


def _holder_of(mspid: str) -> Creator:
    return next(c for c in CALLERS if c.mspid == mspid)


def _run(rc: Receivables, n: int, op: tuple[Any, ...]) -> None:
    kind, caller_i, which, other_i, size, parts = op
    vouchers = sorted(all_vouchers(rc.ledger))
    caller = CALLERS[caller_i]
    # Bias towards sensible callers so sequences get deep: half the time the
    # voucher's holder (or financier) acts, otherwise a random org.
    preferred = [
        vid
        for vid in vouchers
        if which % 2 == 0 and rc.voucher(vid)["status"] in PREFERRED.get(kind, ())
    ]
    pool = preferred or vouchers
    target = pool[which % len(pool)] if pool else "none"
    v = rc.voucher(target) if vouchers else None
    if kind == "issue" and which % 4 != 3:
        caller = ORGS.core
    elif v is not None and which % 2 == 0:
        if kind in ("approve", "reject_financing") and v["financing_request"]:
            caller = _holder_of(v["financing_request"]["financier"])
        elif kind in ("settle", "settle_root", "cancel"):
            caller = ORGS.core
        else:
            caller = _holder_of(v["holder"])
    other = ORG_IDS[other_i]
    financier = other if other_i % 3 == 0 else ["BankMSP", "Bank2MSP"][other_i % 2]
    root = v["root_id"] if v else "none"
    amount = v["amount"] if v else 1
    # Every tenth split carries a zero part, which must be refused.
    cuts = [amount * w // 30 for w in parts] + ([0] if size % 10 == 0 else [])
    calls: dict[str, tuple[str, dict[str, Any]]] = {
        "issue": (
            "IssueVoucher",
            {
                "voucher_id": f"R{n}",
                "payee": other,
                "amount": size * 1_000,
                "currency": "CNY",
                "maturity_date": rc.ledger.clock.plus(size),
                "underlying": underlying(f"R{n}"),
            },
        ),
        "accept": ("AcceptVoucher", {"voucher_id": target}),
        "reject": ("RejectVoucher", {"voucher_id": target}),
        "cancel": ("CancelVoucher", {"voucher_id": target}),
        "split": (
            "SplitVoucher",
            {"voucher_id": target, "amounts": [*cuts, amount - sum(cuts)]},
        ),
        "transfer": (
            "TransferVoucher",
            {"voucher_id": target, "to": other, "amount": max(1, amount * size // 400)},
        ),
        "finance": ("RequestFinancing", {"voucher_id": target, "financier": financier}),
        "approve": (
            "ApproveFinancing",
            {
                "voucher_id": target,
                "rate_bps": size * 3,
                "registration_ref": f"REG-{n}",
                "term_review_ack": True,
                "term_review_reason": "reviewed",
            },
        ),
        "reject_financing": ("RejectFinancing", {"voucher_id": target}),
        "withdraw": ("WithdrawFinancing", {"voucher_id": target}),
        "settle": (
            "SettleVoucher",
            {"voucher_id": target, "payment_ref": f"P{n}", "payment_bank": "BankMSP"},
        ),
        "settle_root": (
            "SettleVoucher",
            {"root_id": root, "payment_ref": f"P{n}", "payment_bank": "BankMSP"},
        ),
        "overdue": ("MarkOverdue", {"root_id": root}),
        "default": ("MarkDefault", {"root_id": root}),
    }
    if kind == "advance":
        rc.ledger.clock.advance(size % 45)
        return
    fn, args = calls[kind]
    before = rc.ledger.state_hash()
    try:
        rc.submit(fn, caller, **args)
    except ChaincodeError:
        assert rc.ledger.state_hash() == before
    else:
        assert caller.mspid != "RegulatorMSP"


def _exercise(ledger: TestLedger, ops: list[tuple[Any, ...]], limits: dict[str, int]) -> None:
    rc = Receivables(ledger)
    # A prelude so that every sequence starts with live trees to work on.
    rc.issue("A", amount=300_000, days=90)
    rc.issue("B", payee="Supplier2MSP", amount=200_000, days=200)
    rc.issue("C", payee="Supplier3MSP", amount=1_000, days=30, accept=False)
    snapshot = check_invariants(ledger)
    for n, op in enumerate(ops):
        _run(rc, n, op)
        snapshot = check_invariants(ledger, snapshot, limits or None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=5, max_size=30))
def test_random_operations_keep_invariants(ops: list[tuple[Any, ...]]) -> None:
    _exercise(TestLedger(clock=Clock("2025-07-01")), ops, {})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=5, max_size=30))
def test_random_operations_respect_issuer_limit(ops: list[tuple[Any, ...]]) -> None:
    limits = {"CoreMSP": 800_000}  # the prelude uses 501,000
    ledger = TestLedger(clock=Clock("2025-07-01"), policy_parameters={"issuer_limit": limits})
    _exercise(ledger, ops, limits)
