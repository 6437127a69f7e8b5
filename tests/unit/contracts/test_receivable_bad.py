"""DOMAIN §8 scenarios 9–29: bad inputs and attacks. Every rejection is checked
for its error code and for an unchanged ledger (state hash and events)."""

from __future__ import annotations

import pytest

from tests.unit.contracts.conftest import Orgs
from tests.unit.contracts.ledger import MVCC_READ_CONFLICT, VALID, Clock, TestLedger
from tests.unit.contracts.receivable_support import (
    RECEIVABLE,
    Receivables,
    check_invariants,
    underlying,
)


def _two_tier(rc: Receivables, orgs: Orgs) -> None:
    """Scenario 3's state: V split [60M, 40M]; V-1-1 (25M) held by S2."""
    rc.issue("V")
    rc.submit("SplitVoucher", orgs.s1, voucher_id="V", amounts=[60_000_000, 40_000_000])
    rc.submit("TransferVoucher", orgs.s1, voucher_id="V-1", to="Supplier2MSP", amount=25_000_000)


def _default_root(rc: Receivables, orgs: Orgs, clock: Clock) -> None:
    """Issue V (90 days), then let it run overdue and into default."""
    rc.issue("V")
    clock.advance(91)
    rc.submit("MarkOverdue", orgs.s1, root_id="V")
    clock.advance(31)
    rc.submit("MarkDefault", orgs.s1, root_id="V")


def test_s09_transfer_more_than_held_is_insufficient_amount(rc: Receivables, orgs: Orgs) -> None:
    _two_tier(rc, orgs)
    rc.rejects(
        "INSUFFICIENT_AMOUNT",
        "TransferVoucher",
        orgs.s2,
        voucher_id="V-1-1",
        to="Supplier3MSP",
        amount=30_000_000,
    )


def test_s10_split_sum_mismatch(rc: Receivables, orgs: Orgs) -> None:
    rc.issue("V", amount=99)
    rc.rejects("SPLIT_SUM_MISMATCH", "SplitVoucher", orgs.s1, voucher_id="V", amounts=[60, 40])


def test_s11_split_with_zero_negative_or_too_small_part(ledger: TestLedger, orgs: Orgs) -> None:
    ledger.set_policy_parameters({"min_split_unit": 10})
    rc = Receivables(ledger)
    rc.issue("V", amount=100)
    for parts in ([100, 0], [101, -1], [95, 5]):
        rc.rejects("INVALID_SPLIT_PART", "SplitVoucher", orgs.s1, voucher_id="V", amounts=parts)


def test_s12_split_beyond_max_children_or_max_depth(rc: Receivables, orgs: Orgs) -> None:
    rc.issue("V", amount=1_000)
    rc.rejects("SPLIT_LIMIT", "SplitVoucher", orgs.s1, voucher_id="V", amounts=[1] * 101 + [899])
    leaf = "V"
    for _ in range(5):  # max_depth = 5
        rc.submit(
            "SplitVoucher", orgs.s1, voucher_id=leaf, amounts=[1, rc.voucher(leaf)["amount"] - 1]
        )
        leaf = f"{leaf}-2"
    assert rc.voucher(leaf)["depth"] == 5
    rc.rejects("SPLIT_LIMIT", "SplitVoucher", orgs.s1, voucher_id=leaf, amounts=[1, 1])


def test_s13_transfer_beyond_max_transfer_hops_is_layer_limit(rc: Receivables, orgs: Orgs) -> None:
    rc.issue("V")
    holders = [orgs.s1, orgs.s2]
    for hop in range(10):  # max_transfer_hops = 10
        giver, taker = holders[hop % 2], holders[(hop + 1) % 2]
        rc.submit("TransferVoucher", giver, voucher_id="V", to=taker.mspid)
    assert rc.voucher("V")["transfer_hops"] == 10
    rc.rejects("LAYER_LIMIT", "TransferVoucher", orgs.s1, voucher_id="V", to="Supplier3MSP")


def test_s14_transfer_split_or_finance_on_maturity_is_matured(
    rc: Receivables, orgs: Orgs, clock: Clock
) -> None:
    rc.issue("V")
    clock.advance(90)  # the maturity date itself
    rc.rejects("MATURED", "TransferVoucher", orgs.s1, voucher_id="V", to="Supplier2MSP")
    rc.rejects("MATURED", "SplitVoucher", orgs.s1, voucher_id="V", amounts=[1, 99_999_999])
    rc.rejects("MATURED", "RequestFinancing", orgs.s1, voucher_id="V", financier="BankMSP")


def test_s15_non_holder_transfer_is_not_holder(rc: Receivables, orgs: Orgs) -> None:
    rc.issue("V")
    rc.rejects("NOT_HOLDER", "TransferVoucher", orgs.s3, voucher_id="V", to="Supplier3MSP")


def test_s16_split_parent_is_not_a_leaf(rc: Receivables, orgs: Orgs) -> None:
    rc.issue("V")
    rc.submit("SplitVoucher", orgs.s1, voucher_id="V", amounts=[50_000_000, 50_000_000])
    rc.rejects("NOT_A_LEAF", "TransferVoucher", orgs.s1, voucher_id="V", to="Supplier2MSP")
    rc.rejects("NOT_A_LEAF", "RequestFinancing", orgs.s1, voucher_id="V", financier="BankMSP")
    rc.rejects(
        "NOT_A_LEAF",
        "SettleVoucher",
        orgs.core,
        voucher_id="V",
        payment_ref="P",
        payment_bank="BankMSP",
    )


def test_s17_financing_request_freezes_the_leaf(rc: Receivables, orgs: Orgs) -> None:
    _two_tier(rc, orgs)
    rc.submit("RequestFinancing", orgs.s2, voucher_id="V-1-1", financier="BankMSP")
    rc.rejects("FROZEN", "TransferVoucher", orgs.s2, voucher_id="V-1-1", to="Supplier3MSP")
    rc.rejects("FROZEN", "RequestFinancing", orgs.s2, voucher_id="V-1-1", financier="Bank2MSP")
    rc.rejects("FROZEN", "SplitVoucher", orgs.s2, voucher_id="V-1-1", amounts=[1, 24_999_999])


def test_s18_concurrent_transfers_one_commits_other_mvcc_conflict(
    rc: Receivables, ledger: TestLedger, orgs: Orgs
) -> None:
    rc.issue("V")
    first = ledger.simulate(
        RECEIVABLE,
        "TransferVoucher",
        {"request_id": "a", "voucher_id": "V", "to": "Supplier2MSP"},
        creator=orgs.s1,
    )
    second = ledger.simulate(
        RECEIVABLE,
        "TransferVoucher",
        {"request_id": "b", "voucher_id": "V", "to": "Supplier3MSP"},
        creator=orgs.s1,
    )
    assert ledger.commit_block([first, second]) == [VALID, MVCC_READ_CONFLICT]
    assert rc.voucher("V")["holder"] == "Supplier2MSP"
    assert rc.voucher("V")["transfer_hops"] == 1
    check_invariants(ledger)


def test_s19_tenor_366_days_exceeds_max(rc: Receivables, orgs: Orgs) -> None:
    rc.rejects(
        "TENOR_EXCEEDS_MAX",
        "IssueVoucher",
        orgs.core,
        voucher_id="V",
        payee="Supplier1MSP",
        amount=1_000,
        currency="CNY",
        maturity_date=rc.ledger.clock.plus(366),
        underlying=underlying("V"),
    )


def test_s20_long_tenor_financing_needs_term_review(rc: Receivables, orgs: Orgs) -> None:
    assert rc.issue("V", days=200)["long_tenor"] is True
    rc.submit("RequestFinancing", orgs.s1, voucher_id="V", financier="BankMSP")
    approve = {"voucher_id": "V", "rate_bps": 350, "registration_ref": "REG-9"}
    rc.rejects("TERM_REVIEW_REQUIRED", "ApproveFinancing", orgs.bank, **approve)
    rc.rejects(
        "TERM_REVIEW_REQUIRED", "ApproveFinancing", orgs.bank, term_review_ack=True, **approve
    )
    rc.submit(
        "ApproveFinancing",
        orgs.bank,
        term_review_ack=True,
        term_review_reason="IND-CUSTOM",
        **approve,
    )
    assert rc.voucher("V")["status"] == "FINANCED"
    (event,) = rc.ledger.events_of("LongTenorVoucher")
    assert event["alerts"][0]["voucher_id"] == "V"


def test_s21_sme_payee_beyond_60_days_from_delivery(rc: Receivables, orgs: Orgs) -> None:
    args = {
        "voucher_id": "V",
        "payee": "Supplier1MSP",
        "amount": 1_000,
        "currency": "CNY",
        "maturity_date": "2025-09-18",  # delivery 2025-06-20 + 90 days
        "underlying": underlying("V", delivery_date="2025-06-20"),
        "sme_flag": True,
    }
    rc.rejects("SME_PAYMENT_TERM", "IssueVoucher", orgs.core, **args)
    rc.submit("IssueVoucher", orgs.core, industry_norm_exception_code="IND-07", **args)
    assert rc.ledger.events_of("SmePaymentTermException")


def test_s22_accept_by_non_payee_is_not_payee(rc: Receivables, orgs: Orgs) -> None:
    rc.issue("V", accept=False)
    rc.rejects("NOT_PAYEE", "AcceptVoucher", orgs.core, voucher_id="V")
    assert rc.voucher("V")["status"] == "PENDING_ACCEPTANCE"


def test_s23_cancel_after_acceptance_is_irrevocable(rc: Receivables, orgs: Orgs) -> None:
    rc.issue("V")
    rc.rejects("IRREVOCABLE", "CancelVoucher", orgs.core, voucher_id="V")


def test_s24_regulator_is_read_only(rc: Receivables, orgs: Orgs) -> None:
    _two_tier(rc, orgs)
    rc.submit("RequestFinancing", orgs.s2, voucher_id="V-1-1", financier="BankMSP")
    rc.submit("ApproveFinancing", orgs.bank, voucher_id="V-1-1", rate_bps=350, registration_ref="R")
    rc.rejects(
        "READ_ONLY_ROLE", "TransferVoucher", orgs.regulator, voucher_id="V-2", to="Supplier2MSP"
    )
    rc.rejects(
        "READ_ONLY_ROLE",
        "IssueVoucher",
        orgs.regulator,
        voucher_id="X",
        payee="Supplier1MSP",
        amount=1,
        currency="CNY",
        maturity_date=rc.ledger.clock.plus(30),
        underlying=underlying("X"),
    )
    financing = rc.query("GetVoucher", orgs.regulator, voucher_id="V-1-1")["financing"]
    assert (financing["rate_bps"], financing["fees"], financing["interest"]) == (350, 0, 218_750)
    check_invariants(rc.ledger)


def test_s24_regulator_cannot_pledge_receipt(ledger: TestLedger, orgs: Orgs) -> None:
    warehouse = pytest.importorskip("chaincode.contracts.warehouse")
    contract = next(
        v()
        for v in vars(warehouse).values()
        if isinstance(v, type) and getattr(v, "name", "") == "warehouse"
    )
    before = ledger.state_hash()
    with pytest.raises(Exception, match="READ_ONLY_ROLE"):
        ledger.invoke(
            contract,
            "PledgeReceipt",
            {"request_id": "r", "receipt_id": "R"},
            creator=orgs.regulator,
        )
    assert ledger.state_hash() == before


def test_s25_approve_without_registration_ref(rc: Receivables, orgs: Orgs) -> None:
    rc.issue("V")
    rc.submit("RequestFinancing", orgs.s1, voucher_id="V", financier="BankMSP")
    rc.rejects("REGISTRATION_REQUIRED", "ApproveFinancing", orgs.bank, voucher_id="V", rate_bps=350)


def test_s26_blocked_issuer_cannot_issue(rc: Receivables, orgs: Orgs, clock: Clock) -> None:
    _default_root(rc, orgs, clock)
    rc.rejects(
        "ISSUER_BLOCKED",
        "IssueVoucher",
        orgs.core,
        voucher_id="W",
        payee="Supplier1MSP",
        amount=1_000,
        currency="CNY",
        maturity_date=clock.plus(30),
        underlying=underlying("W"),
    )


def test_s27_overdue_then_default_then_paid_late(rc: Receivables, orgs: Orgs, clock: Clock) -> None:
    rc.issue("V")
    rc.submit("SplitVoucher", orgs.s1, voucher_id="V", amounts=[60_000_000, 40_000_000])
    clock.advance(90)  # maturity day: not yet overdue (grace 0)
    rc.rejects("NOT_OVERDUE", "MarkOverdue", orgs.s1, root_id="V")
    clock.advance(1)
    rc.submit("MarkOverdue", orgs.s1, root_id="V")
    assert {rc.voucher(v)["status"] for v in ("V-1", "V-2")} == {"OVERDUE"}
    clock.advance(29)  # 30 days past maturity: not more than default_after_days
    rc.rejects("NOT_DEFAULTABLE", "MarkDefault", orgs.s1, root_id="V")
    clock.advance(1)
    assert rc.submit("MarkDefault", orgs.s1, root_id="V")["issuer_blocked"] is True
    assert rc.voucher("V-1")["status"] == "DEFAULTED"
    assert rc.query("IssuerStatus", orgs.regulator, issuer="CoreMSP")["blocked"] is True
    result = rc.submit(
        "SettleVoucher", orgs.core, root_id="V", payment_ref="PAY-LATE", payment_bank="BankMSP"
    )
    days_late = 31
    for payout in result["payouts"]:
        assert payout["days_late"] == days_late
        # amount × 5 bp/day × days late / 10 000, half-up
        assert payout["late_interest"] == (payout["principal"] * 5 * days_late + 5_000) // 10_000
    assert {rc.voucher(v)["status"] for v in ("V-1", "V-2")} == {"PAID_LATE"}
    assert rc.root("V")["paid_total"] == 100_000_000
    check_invariants(rc.ledger)


def test_s28_request_id_replay_and_conflict(rc: Receivables, orgs: Orgs) -> None:
    args = {
        "request_id": "issue-1",
        "voucher_id": "V",
        "payee": "Supplier1MSP",
        "amount": 1_000,
        "currency": "CNY",
        "maturity_date": rc.ledger.clock.plus(30),
        "underlying": underlying("V"),
    }
    first = rc.submit("IssueVoucher", orgs.core, **args)
    before = rc.ledger.state_hash()
    assert rc.submit("IssueVoucher", orgs.core, **args) == first
    assert rc.ledger.state_hash() == before  # no second voucher
    rc.rejects("IDEMPOTENCY_CONFLICT", "IssueVoucher", orgs.core, **{**args, "amount": 2_000})


def test_s29_missing_trade_hashes_or_reused_invoice(rc: Receivables, orgs: Orgs) -> None:
    rc.issue("A", underlying=underlying("A", invoice_nos=[], invoice_hashes=[]))
    rc.rejects(
        "TRADE_BACKGROUND_INVALID", "RequestFinancing", orgs.s1, voucher_id="A", financier="BankMSP"
    )
    rc.issue("B")
    rc.issue("C", underlying=underlying("C", invoice_hashes=underlying("B")["invoice_hashes"]))
    (alert,) = rc.ledger.events_of("DuplicateTradeDoc")
    assert alert["alerts"][0]["first_root"] == "B"
    rc.rejects(
        "DUPLICATE_TRADE_DOC", "RequestFinancing", orgs.s1, voucher_id="C", financier="BankMSP"
    )
    rc.submit("RequestFinancing", orgs.s1, voucher_id="B", financier="BankMSP")
