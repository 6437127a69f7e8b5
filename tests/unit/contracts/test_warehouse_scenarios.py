"""DOMAIN §8 scenarios 30–36 (warehouse receipts), each as its own test, plus
the margin-call and default paths of scenario 33 and the regulator and
idempotency rules as they apply to the warehouse contract."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from chaincode.stub import Timestamp
from tests.unit.contracts.conftest import ORGS
from tests.unit.contracts.ledger import TestLedger, timestamp_on
from tests.unit.contracts.test_warehouse_world import PRICE, TONNE, World, half_up

VALUE_500T = 500 * TONNE * PRICE // TONNE  # 3,500,000,000 fen
PRINCIPAL_65 = VALUE_500T * 6500 // 10_000  # 2,275,000,000 fen


@pytest.fixture
def world(ledger: TestLedger) -> World:
    return World(ledger)


def _pledged_receipt(world: World, *, stock_tonnes: int = 500) -> str:
    """Scenario 30's setup: 500 t copper on lot L, valued, pledged at 65%."""
    world.site()
    world.attest(stock_tonnes * TONNE)
    receipt_id = world.issue(500 * TONNE, lots=["L"])
    world.value(receipt_id)
    world.pledge(receipt_id, PRINCIPAL_65, registration_ref="CRC-2025-0001")
    return receipt_id


def test_s30_issue_and_pledge_at_65_percent_ltv(world: World) -> None:
    receipt_id = _pledged_receipt(world)
    receipt = world.receipt(receipt_id)
    assert receipt["status"] == "PLEDGED"
    assert receipt["holder"] == "Supplier1MSP"
    assert receipt["goods"]["quantity"] == 500 * TONNE
    assert receipt["goods"]["quality_grade"] == "A"
    assert receipt["insurance"]["insured_value"] > 0
    assert receipt["collateral_value"] == VALUE_500T == 3_500_000_000
    assert receipt["pledge"]["pledgee_bank"] == "BankMSP"
    assert receipt["pledge"]["registration_ref"] == "CRC-2025-0001"
    assert receipt["policy_version"] == 0
    loan = world.loan()
    assert loan["principal"] == PRINCIPAL_65 == 2_275_000_000
    assert loan["ltv_bps"] == 6500
    assert loan["cap_at_pledge"] == 2_450_000_000
    assert world.ledger.events_of("ReceiptPledged")


def test_s31_second_pledge_is_already_pledged_and_second_receipt_on_lot_refused(
    world: World,
) -> None:
    receipt_id = _pledged_receipt(world, stock_tonnes=2_000)
    world.rejected(
        "ALREADY_PLEDGED",
        "PledgeReceipt",
        world.pledge_args(receipt_id, 1_000, bank="Bank2MSP", loan_id="B2-LOAN"),
        ORGS.s1,
    )
    # Stock has room for it; only the lot binding refuses the Qingdao pattern.
    world.rejected(
        "LOT_ALREADY_RECEIPTED",
        "IssueReceipt",
        world.issue_args(500 * TONNE, lots=["L"]),
        ORGS.warehouse,
    )
    world.rejected(
        "LOT_ALREADY_RECEIPTED",
        "IssueReceipt",
        world.issue_args(100 * TONNE, lots=["L9", "L"], depositor="Supplier2MSP"),
        ORGS.warehouse,
    )
    # The same CRC registration can't back a second receipt either.
    other = world.issue(100 * TONNE)
    world.value(other)
    world.rejected(
        "REGISTRATION_REUSED",
        "PledgeReceipt",
        world.pledge_args(other, 1_000, loan_id="LOAN-2", registration_ref="CRC-2025-0001"),
        ORGS.s1,
    )


def test_s32_ltv_cap_stale_valuation_and_stale_attestation_are_refused(world: World) -> None:
    world.site()
    world.attest(1_000 * TONNE)  # 2025-07-01
    receipt_id = world.issue(500 * TONNE)
    world.value(receipt_id)
    cap = VALUE_500T * 7000 // 10_000
    world.rejected("LTV_EXCEEDED", "PledgeReceipt", world.pledge_args(receipt_id, cap + 1), ORGS.s1)
    # Day 8: valuation and attestation are both 8 days old.
    world.ledger.clock.advance(8)
    world.rejected("STALE_VALUATION", "PledgeReceipt", world.pledge_args(receipt_id, cap), ORGS.s1)
    world.value(receipt_id)
    world.rejected(
        "STALE_ATTESTATION", "PledgeReceipt", world.pledge_args(receipt_id, cap), ORGS.s1
    )
    world.attest(1_000 * TONNE)
    # Exactly at the cap, everything fresh: accepted.
    assert world.pledge(receipt_id, cap)["status"] == "PLEDGED"


def test_s32_freshness_limits_are_inclusive_and_longer_overseas(world: World) -> None:
    world.site("HH01", overseas=True)
    world.attest(100 * TONNE, site="HH01")
    receipt_id = world.issue(100 * TONNE, site="HH01")
    value = 100 * PRICE
    # 14 days of attestation age are fine overseas (7 at home).
    world.ledger.clock.advance(14)
    world.value(receipt_id)
    cap = value * 5000 // 10_000  # overseas LTV cap
    world.rejected("LTV_EXCEEDED", "PledgeReceipt", world.pledge_args(receipt_id, cap + 1), ORGS.s1)
    args = world.pledge_args(receipt_id, cap)
    world.ledger.clock.advance(1)
    world.rejected("STALE_ATTESTATION", "PledgeReceipt", args, ORGS.s1)
    world.ledger.clock.advance(-1)
    assert world.pledge(receipt_id, cap)["ltv_max_bps"] == 5000


def test_s33_price_drop_to_80_percent_margin_call_then_top_up_with_second_receipt(
    world: World,
) -> None:
    receipt_id = _pledged_receipt(world, stock_tonnes=600)
    second = world.issue(100 * TONNE, lots=["L2"])
    # LTV 80% exactly: value = principal / 0.8 = 2,843,750,000 → 5,687,500 fen/t.
    drop = 5_687_500
    result = world.value(receipt_id, drop)
    assert result["loan"]["ltv_bps"] == 8000
    receipt = world.receipt(receipt_id)
    assert receipt["status"] == "MARGIN_CALL"
    assert world.loan()["margin_call_due"] == "2025-07-06"  # today + cure_days (5)
    assert world.ledger.events_of("MarginCall")
    world.value(second, drop)
    world.rejected(
        "NOT_BORROWER", "TopUp", {"receipt_id": receipt_id, "add_receipt_id": second}, ORGS.s2
    )
    loan = world.call(
        "TopUp",
        {"receipt_id": receipt_id, "add_receipt_id": second, "registration_ref": "CRC-TOPUP-1"},
        ORGS.s1,
    )
    assert loan["status"] == "PLEDGED"
    assert loan["margin_call_due"] is None
    assert loan["collateral_value"] == 2_843_750_000 + 568_750_000
    assert loan["ltv_bps"] == PRINCIPAL_65 * 10_000 // 3_412_500_000
    assert world.receipt(receipt_id)["status"] == "PLEDGED"
    assert world.receipt(second)["status"] == "PLEDGED"
    assert world.receipt(second)["pledge"]["loan_id"] == "LOAN-1"
    # Full repayment releases both receipts.
    world.call("RepayAndRelease", {"loan_id": "LOAN-1", "payment_ref": "PAY-1"}, ORGS.bank)
    assert world.receipt(receipt_id)["status"] == world.receipt(second)["status"] == "ACTIVE"


def test_s33_no_cure_within_cure_days_defaults_liquidates_and_transfers_to_pledgee(
    world: World,
) -> None:
    receipt_id = _pledged_receipt(world)
    world.value(receipt_id, 5_687_500)  # MARGIN_CALL, due 2025-07-06
    world.ledger.clock.set("2025-07-06")
    world.rejected("NOT_IN_DEFAULT", "DeclareDefault", {"loan_id": "LOAN-1"}, ORGS.bank)
    world.rejected("INVALID_STATE", "TransferToPledgee", {"loan_id": "LOAN-1"}, ORGS.bank)
    world.ledger.clock.set("2025-07-07")
    world.rejected("LOAN_NOT_FOUND", "DeclareDefault", {"loan_id": "LOAN-1"}, ORGS.bank2)
    loan = world.call("DeclareDefault", {"loan_id": "LOAN-1"}, ORGS.bank)
    assert loan["status"] == "LIQUIDATING"
    assert loan["default_grounds"] == ["MARGIN_CALL_UNCURED"]
    assert [h["status"] for h in loan["status_history"]] == [
        "PLEDGED",
        "MARGIN_CALL",
        "DEFAULTED",
        "LIQUIDATING",
    ]
    assert world.receipt(receipt_id)["status"] == "LIQUIDATING"
    world.call("TransferToPledgee", {"loan_id": "LOAN-1"}, ORGS.bank)
    receipt = world.receipt(receipt_id)
    assert receipt["holder"] == "BankMSP"
    assert receipt["status"] == "ACTIVE"
    assert receipt["pledge"] is None
    assert receipt["pledge_history"][-1]["ended"] == "TRANSFERRED_TO_PLEDGEE"
    # Unencumbered: the bank, now holder, may have the goods released.
    world.call("InstructOutbound", {"receipt_id": receipt_id, "quantity": 500 * TONNE}, ORGS.bank)
    world.call("Outbound", {"receipt_id": receipt_id, "quantity": 500 * TONNE}, ORGS.warehouse)
    assert world.receipt(receipt_id)["status"] == "REDEEMED"


def test_s33_ltv_warn_flags_and_liquidation_threshold_defaults(world: World) -> None:
    receipt_id = _pledged_receipt(world)
    # 76%: warning only.
    price_76 = half_up(Fraction(PRINCIPAL_65 * 10_000 * TONNE, 7600 * 500 * TONNE))
    assert world.value(receipt_id, price_76)["loan"]["status"] == "PLEDGED"
    assert world.ledger.events_of("LtvWarning")
    # 90%: straight to DEFAULTED; the bank then liquidates without waiting.
    price_90 = PRINCIPAL_65 * 10_000 // (9000 * 500)
    assert world.value(receipt_id, price_90)["loan"]["status"] == "DEFAULTED"
    assert world.receipt(receipt_id)["status"] == "DEFAULTED"
    world.rejected("INVALID_STATE", "TopUp", {"receipt_id": receipt_id, "cash_margin": 1}, ORGS.s1)
    loan = world.call("DeclareDefault", {"loan_id": "LOAN-1"}, ORGS.bank)
    assert loan["status"] == "LIQUIDATING"
    assert "LTV_LIQUIDATE" in loan["default_grounds"]


def test_s33_cash_margin_cures_and_overdue_loan_defaults(world: World) -> None:
    receipt_id = _pledged_receipt(world)
    world.value(receipt_id, 5_687_500)  # value 2,843,750,000; LTV 80%
    # One fen of cash margin takes the exposure just below 80% of the value.
    world.call("TopUp", {"receipt_id": receipt_id, "cash_margin": 1}, ORGS.s1)
    assert world.loan()["status"] == "PLEDGED"
    # Past maturity with money outstanding: default on LOAN_OVERDUE.
    world.ledger.clock.set("2026-01-01")
    loan = world.call("DeclareDefault", {"loan_id": "LOAN-1"}, ORGS.bank)
    assert loan["default_grounds"] == ["LOAN_OVERDUE"]


def test_s34_outbound_locked_while_pledged_then_redeemed_after_release(world: World) -> None:
    receipt_id = _pledged_receipt(world)
    instruct = {"receipt_id": receipt_id, "quantity": 500 * TONNE}
    world.rejected("PLEDGED_GOODS_LOCKED", "InstructOutbound", instruct, ORGS.s1)
    world.rejected("OUTBOUND_NOT_INSTRUCTED", "Outbound", instruct, ORGS.warehouse)
    world.rejected("NOT_PLEDGEE", "ConsentOutbound", instruct, ORGS.bank2)
    world.call(
        "RepayAndRelease",
        {"loan_id": "LOAN-1", "payment_ref": "PAY-1", "deregistration_ref": "CRC-DEREG-1"},
        ORGS.bank,
    )
    receipt = world.receipt(receipt_id)
    assert receipt["status"] == "ACTIVE"
    assert receipt["pledge"] is None
    assert receipt["pledge_history"][-1]["deregistration_ref"] == "CRC-DEREG-1"
    world.call("InstructOutbound", instruct, ORGS.s1)
    world.rejected("NOT_SITE_OPERATOR", "Outbound", instruct, ORGS.s1)
    world.call("Outbound", instruct, ORGS.warehouse)
    receipt = world.receipt(receipt_id)
    assert receipt["status"] == "REDEEMED"
    assert receipt["goods"]["quantity"] == 0
    stock = world.stock()
    assert stock["live_quantity"] == 0
    assert stock["book_quantity"] == 0
    # Lot L is free again once new goods are attested.
    world.attest(500 * TONNE)
    assert world.issue(500 * TONNE, lots=["L"])


def test_s34_partial_outbound_with_pledgee_consent(world: World) -> None:
    receipt_id = _pledged_receipt(world)
    world.call("ConsentOutbound", {"receipt_id": receipt_id, "quantity": 50 * TONNE}, ORGS.bank)
    world.rejected(
        "PLEDGED_GOODS_LOCKED",
        "InstructOutbound",
        {"receipt_id": receipt_id, "quantity": 60 * TONNE},
        ORGS.s1,
    )
    world.call("InstructOutbound", {"receipt_id": receipt_id, "quantity": 50 * TONNE}, ORGS.s1)
    world.call("Outbound", {"receipt_id": receipt_id, "quantity": 50 * TONNE}, ORGS.warehouse)
    receipt = world.receipt(receipt_id)
    assert receipt["status"] == "PLEDGED"
    assert receipt["goods"]["quantity"] == 450 * TONNE
    assert receipt["quantity_version"] == 2
    assert receipt["outbound_consent"] is None
    assert world.stock()["live_quantity"] == world.stock()["book_quantity"] == 450 * TONNE


def test_s35_stock_shortfall_freezes_receipts_alerts_and_blocks_pledges(world: World) -> None:
    receipt_id = _pledged_receipt(world, stock_tonnes=700)
    other = world.issue(200 * TONNE)
    world.value(other)
    # Σ live = 700 t; the stocktake finds 300 t (the exact 500/300 case is below).
    world.attest(300 * TONNE)
    for rid, before in ((receipt_id, "PLEDGED"), (other, "ACTIVE")):
        receipt = world.receipt(rid)
        assert receipt["status"] == "FROZEN"
        assert receipt["frozen"]["reason"] == "STOCK_SHORTFALL"
        assert receipt["frozen"]["previous_status"] == before
    alerts = world.ledger.events_of("StockShortfall")
    assert len(alerts) == 1
    assert alerts[0]["changes"][0]["shortfall"] == 400 * TONNE
    world.rejected(
        "RECEIPT_FROZEN", "PledgeReceipt", world.pledge_args(other, 1_000, loan_id="L2"), ORGS.s1
    )
    world.rejected("STOCK_EXCEEDED", "IssueReceipt", world.issue_args(1), ORGS.warehouse)
    world.rejected(
        "RECEIPT_FROZEN", "InstructOutbound", {"receipt_id": other, "quantity": 1}, ORGS.s1
    )
    # A later stocktake covering the receipts restores their previous status.
    world.attest(700 * TONNE)
    assert world.receipt(receipt_id)["status"] == "PLEDGED"
    assert world.receipt(other)["status"] == "ACTIVE"


def test_s35_exact_scenario_numbers_300_of_500_tonnes(world: World) -> None:
    world.site()
    world.attest(500 * TONNE)
    first = world.issue(300 * TONNE)
    second = world.issue(200 * TONNE)
    result = world.attest(300 * TONNE)
    assert sorted(result["affected_receipts"]) == sorted([first, second])
    assert world.stock()["shortfall"] is True


def _overseas_usd_receipt(world: World) -> str:
    world.site("LA01", overseas=True)
    world.attest(100 * TONNE, site="LA01")
    receipt_id = world.issue(
        100 * TONNE, site="LA01", insured=1_000_000_000, insurance_currency="USD"
    )
    world.value(receipt_id, 1_000_001, currency="USD")  # USD 10,000.01/t → 100,000,100 cents
    return receipt_id


def test_s36_usd_receipt_financed_in_cny_needs_fresh_fx_and_rounds_half_up(world: World) -> None:
    receipt_id = _overseas_usd_receipt(world)
    now = world.now()
    rate = 712_345_678
    snapshot: dict[str, Any] = {
        "pair": "USD/CNY",
        "rate_e8": rate,
        "source": "OracleMSP",
        "quote_id": "Q-1",
        "ts": now - 301,
    }
    usd_principal = 40_000_005  # cents; under the 50% overseas cap
    args = world.pledge_args(receipt_id, 0, currency="CNY", fx_snapshot=snapshot)
    del args["principal"]
    args["foreign_principal"] = {"amount": usd_principal, "currency": "USD"}
    world.rejected("STALE_FX", "PledgeReceipt", args, ORGS.s1)
    no_fx = world.pledge_args(receipt_id, 1_000, currency="CNY")
    world.rejected("CURRENCY_MISMATCH", "PledgeReceipt", no_fx, ORGS.s1)
    args["fx_snapshot"] = {**snapshot, "ts": now - 300}
    loan = world.call("PledgeReceipt", args, ORGS.s1)
    expected = half_up(Fraction(usd_principal * rate, 10**8))
    assert loan["principal"] == expected
    assert loan["currency"] == "CNY"
    assert loan["fx_snapshot"]["quote_id"] == "Q-1"
    assert loan["value_at_pledge"] == half_up(Fraction(100_000_100 * rate, 10**8))
    assert loan["ltv_max_bps"] == 5000


def test_s36_cny_cap_on_converted_value(world: World) -> None:
    receipt_id = _overseas_usd_receipt(world)
    fresh = {
        "pair": "USD/CNY",
        "rate_e8": 712_345_678,
        "source": "OracleMSP",
        "quote_id": "Q-2",
        "ts": world.now(),
    }
    value_cny = half_up(Fraction(100_000_100 * 712_345_678, 10**8))
    cap = value_cny * 5000 // 10_000
    over = world.pledge_args(receipt_id, cap + 1, currency="CNY", fx_snapshot=fresh)
    world.rejected("LTV_EXCEEDED", "PledgeReceipt", over, ORGS.s1)
    at_cap = world.pledge_args(receipt_id, cap, currency="CNY", fx_snapshot=fresh)
    assert world.call("PledgeReceipt", at_cap, ORGS.s1)["principal"] == cap


def test_regulator_is_read_only_on_every_mutating_function(world: World) -> None:
    receipt_id = _pledged_receipt(world)
    for fn in sorted(world.contract.functions()):
        if world.contract.function_kind(fn) == "submit":
            world.rejected("READ_ONLY_ROLE", fn, {"receipt_id": receipt_id}, ORGS.regulator)
    assert world.query("GetReceipt", {"receipt_id": receipt_id})["status"] == "PLEDGED"
    assert world.query("ReceiptsOf", {"org": "Supplier1MSP"})[0]["receipt_id"] == receipt_id
    assert world.query("GetLoan", {"bank": "BankMSP", "loan_id": "LOAN-1"})["borrower"]
    history = world.query("ReceiptHistory", {"receipt_id": receipt_id})
    assert [h["value"]["status"] for h in history] == ["ACTIVE", "ACTIVE", "PLEDGED"]


def test_queries_are_scoped_to_the_parties(world: World) -> None:
    _pledged_receipt(world)
    for fn, args in (
        ("ReceiptsOf", {"org": "Supplier1MSP"}),
        ("GetLoan", {"bank": "BankMSP", "loan_id": "LOAN-1"}),
        ("PledgeAttempts", {}),
    ):
        with pytest.raises(Exception, match="NOT_AUTHORIZED"):
            world.query(fn, args, ORGS.s3)
    assert world.query("ReceiptsOf", {"org": "BankMSP"}, ORGS.bank)  # the pledgee sees it


def test_rejected_pledge_attempts_are_recorded_for_the_regulator(world: World) -> None:
    receipt_id = _pledged_receipt(world)
    world.call(
        "RecordPledgeAttempt",
        {"receipt_id": receipt_id, "bank": "Bank2MSP", "error_code": "ALREADY_PLEDGED"},
        ORGS.bank2,
    )
    attempts = world.query("PledgeAttempts", {"receipt_id": receipt_id})
    assert [a["error_code"] for a in attempts] == ["ALREADY_PLEDGED"]
    assert world.ledger.events_of("PledgeAttemptRejected")


def test_request_id_replay_returns_original_and_conflict_on_new_payload(world: World) -> None:
    world.site()
    world.attest(1_000 * TONNE)
    args = {**world.issue_args(100 * TONNE, lots=["LX"]), "request_id": "issue-1"}
    first = world.call("IssueReceipt", args, ORGS.warehouse)
    before = world.ledger.state_hash()
    again = world.call("IssueReceipt", args, ORGS.warehouse)
    assert again == first
    assert world.ledger.state_hash() == before
    changed = {**args, "loss_standard_ppm": 5}
    world.rejected("IDEMPOTENCY_CONFLICT", "IssueReceipt", changed, ORGS.warehouse)


def test_endorsement_needs_the_warehouse_co_signature(world: World) -> None:
    world.site()
    world.attest(1_000 * TONNE)
    receipt_id = world.issue(100 * TONNE)
    world.rejected(
        "NOT_HOLDER", "EndorseReceipt", {"receipt_id": receipt_id, "to": "Supplier3MSP"}, ORGS.s2
    )
    world.call("EndorseReceipt", {"receipt_id": receipt_id, "to": "Supplier2MSP"}, ORGS.s1)
    assert world.receipt(receipt_id)["holder"] == "Supplier1MSP"  # not until co-signed
    world.rejected(
        "ENDORSEMENT_PENDING", "PledgeReceipt", world.pledge_args(receipt_id, 1), ORGS.s1
    )
    world.rejected(
        "ENDORSEMENT_NOT_INSTRUCTED",
        "ConfirmEndorsement",
        {"receipt_id": receipt_id, "to": "Supplier3MSP"},
        ORGS.warehouse,
    )
    world.call(
        "ConfirmEndorsement", {"receipt_id": receipt_id, "to": "Supplier2MSP"}, ORGS.warehouse
    )
    receipt = world.receipt(receipt_id)
    assert receipt["holder"] == "Supplier2MSP"
    assert receipt["endorsements"][0]["from"] == "Supplier1MSP"
    world.rejected(
        "NOT_CANCELLABLE",
        "CancelReceipt",
        {"receipt_id": receipt_id, "reason": "x"},
        ORGS.warehouse,
    )


def test_cancel_only_fresh_active_receipts_and_frees_the_lot(world: World) -> None:
    world.site()
    world.attest(1_000 * TONNE)
    receipt_id = world.issue(100 * TONNE, lots=["LC"])
    world.rejected(
        "NOT_SITE_OPERATOR", "CancelReceipt", {"receipt_id": receipt_id, "reason": "x"}, ORGS.s1
    )
    world.call(
        "CancelReceipt", {"receipt_id": receipt_id, "reason": "typo in grade"}, ORGS.warehouse
    )
    assert world.receipt(receipt_id)["status"] == "CANCELLED"
    assert world.stock()["live_quantity"] == 0
    assert world.issue(100 * TONNE, lots=["LC"])


def test_issue_checks_stock_insurance_and_operator(world: World) -> None:
    world.site()
    world.rejected("STOCK_NOT_ATTESTED", "IssueReceipt", world.issue_args(1), ORGS.warehouse)
    world.attest(100 * TONNE)
    world.rejected(
        "STOCK_EXCEEDED", "IssueReceipt", world.issue_args(100 * TONNE + 1), ORGS.warehouse
    )
    world.rejected(
        "INSURANCE_REQUIRED", "IssueReceipt", world.issue_args(1, insured=0), ORGS.warehouse
    )
    world.rejected("NOT_SITE_OPERATOR", "IssueReceipt", world.issue_args(1), ORGS.s1)
    world.rejected(
        "BAD_ARGUMENT",
        "IssueReceipt",
        {**world.issue_args(1), "goods": {**world.issue_args(1)["goods"], "quantity": 1.5}},
        ORGS.warehouse,
    )
    world.rejected(
        "NOT_AUTHORIZED",
        "RegisterSite",
        {"warehouse_id": "X1", "country": "CN", "location": "x"},
        ORGS.s1,
    )
    world.issue(100 * TONNE)


def test_only_appraisers_value_and_timestamps_are_monotonic(world: World) -> None:
    world.site()
    world.attest(1_000 * TONNE)
    receipt_id = world.issue(100 * TONNE)
    world.rejected(
        "NOT_AUTHORIZED",
        "UpdateValuation",
        {"receipt_id": receipt_id, "unit_price": 1, "currency": "CNY"},
        ORGS.bank,
    )
    world.rejected(
        "BAD_ARGUMENT",
        "UpdateValuation",
        {"receipt_id": receipt_id, "unit_price": 0, "currency": "CNY"},
        ORGS.appraiser,
    )
    world.value(receipt_id, ts=timestamp_on("2025-07-01", hour=12))
    world.rejected(
        "VALUATION_NOT_MONOTONIC",
        "UpdateValuation",
        {
            "receipt_id": receipt_id,
            "unit_price": 5,
            "currency": "CNY",
            "as_of": timestamp_on("2025-07-01", hour=11).seconds,
        },
        ORGS.appraiser,
        ts=timestamp_on("2025-07-01", hour=13),
    )
    assert (
        world.ledger.query(
            world.contract,
            "GetReceipt",
            {"receipt_id": receipt_id},
            creator=ORGS.s1,
            ts=Timestamp(0),
        )["valuation"]["unit_price"]
        == PRICE
    )


def test_pledge_uses_the_policy_version_pinned_on_the_receipt(world: World) -> None:
    world.ledger.set_policy_parameters({"ltv_max_bps": 6000, "require_registration": True})
    world.site()
    world.attest(500 * TONNE)
    receipt_id = world.issue(500 * TONNE)
    world.value(receipt_id)
    assert world.receipt(receipt_id)["policy_version"] == 0
    cap = VALUE_500T * 6000 // 10_000
    world.rejected("LTV_EXCEEDED", "PledgeReceipt", world.pledge_args(receipt_id, cap + 1), ORGS.s1)
    no_ref = world.pledge_args(receipt_id, cap)
    del no_ref["registration_ref"]
    world.rejected("REGISTRATION_REQUIRED", "PledgeReceipt", no_ref, ORGS.s1)
    assert world.pledge(receipt_id, cap)["ltv_max_bps"] == 6000


def test_every_state_change_emits_an_audit_event(world: World) -> None:
    receipt_id = _pledged_receipt(world)
    (event,) = world.ledger.events_of("ReceiptPledged")
    assert event["actor"] == "Supplier1MSP"
    by_key = {change["key"]: change for change in event["changes"]}
    change = by_key[f"receipt~{receipt_id}"]
    assert change["type"] == "ReceiptPledged"
    assert change["before_hash"]
    assert change["after_hash"]
    assert change["before_hash"] != change["after_hash"]
    assert by_key["wr_loan~BankMSP~LOAN-1"]["before_hash"] == ""  # created
    assert len(world.ledger.events) == len(
        [tx for tx in world.ledger.transactions if tx.status == "VALID"]
    )
