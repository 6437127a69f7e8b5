"""The subsidy contract: DOMAIN §3.3 and §8 scenario 37."""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Any

import pytest

from chaincode.contracts.subsidy import SubsidyContract
from chaincode.errors import ChaincodeError
from chaincode.stub import Creator
from tests.unit.contracts.conftest import ORGS
from tests.unit.contracts.ledger import TestLedger

PROGRAM = {
    "program_id": "GHD-2025",
    "region": "GX",
    "currency": "CNY",
    "min_loan": 10_000_000,  # RMB 100,000.00
    "subsidy_bps": 100,  # 1 percentage point
    "annual_cap_per_borrower": 20_000_000,  # RMB 200,000.00
    "comp_ratio_bps": 4000,
    "fund_balance": 1_000_000_000,
}


class Subsidy:
    def __init__(self, ledger: TestLedger) -> None:
        self.ledger = ledger
        self.contract = SubsidyContract()
        self._ids = itertools.count(1)

    def call(self, fn: str, args: dict[str, Any], who: Creator) -> Any:
        args = {"request_id": f"s-{next(self._ids)}", **args}
        return self.ledger.invoke(self.contract, fn, args, creator=who)

    def rejected(self, code: str, fn: str, args: dict[str, Any], who: Creator) -> None:
        before = self.ledger.state_hash()
        with pytest.raises(ChaincodeError) as info:
            self.call(fn, args, who)
        assert info.value.code == code, info.value.message
        assert self.ledger.state_hash() == before

    def loan_args(
        self, loan_id: str, principal: int, borrower: str = "Supplier1MSP"
    ) -> dict[str, Any]:
        return {
            "program_id": "GHD-2025",
            "loan_id": loan_id,
            "borrower": borrower,
            "principal": principal,
            "currency": "CNY",
            "rate_bps": 350,
            "start_date": "2025-01-01",
            "maturity_date": "2026-01-01",
            "region": "GX",
        }


@pytest.fixture
def subsidy(ledger: TestLedger) -> Subsidy:
    world = Subsidy(ledger)
    world.call("CreateProgram", PROGRAM, ORGS.govfund)
    return world


def test_s37_loan_below_minimum_is_ineligible_and_claim_over_cap_is_refused(
    subsidy: Subsidy,
) -> None:
    # RMB 80,000 < RMB 100,000: neither registrable nor claimable.
    subsidy.rejected(
        "SUBSIDY_INELIGIBLE", "RegisterLoan", subsidy.loan_args("SMALL", 8_000_000), ORGS.bank
    )
    subsidy.rejected(
        "SUBSIDY_INELIGIBLE",
        "ClaimSubsidy",
        {"loan_id": "SMALL", "quarter": "2025Q1", "interest_days": 90},
        ORGS.bank,
    )
    # RMB 50 m at 1 pp for 90 days = 12,500,000 fen a quarter; the cap is 20,000,000.
    subsidy.call("RegisterLoan", subsidy.loan_args("BIG", 5_000_000_000), ORGS.bank)
    claim = subsidy.call(
        "ClaimSubsidy", {"loan_id": "BIG", "quarter": "2025Q1", "interest_days": 90}, ORGS.bank
    )
    assert claim["subsidy"] == 12_500_000
    subsidy.rejected(
        "SUBSIDY_CAP",
        "ClaimSubsidy",
        {"loan_id": "BIG", "quarter": "2025Q2", "interest_days": 91},
        ORGS.bank,
    )
    # A smaller claim that fits under the cap is still accepted.
    claim = subsidy.call(
        "ClaimSubsidy", {"loan_id": "BIG", "quarter": "2025Q2", "interest_days": 36}, ORGS.bank
    )
    assert claim["subsidy"] == 5_000_000
    # The cap is per borrower: a second loan of the same borrower is capped too.
    subsidy.call("RegisterLoan", subsidy.loan_args("BIG-2", 5_000_000_000), ORGS.bank2)
    subsidy.rejected(
        "SUBSIDY_CAP",
        "ClaimSubsidy",
        {"loan_id": "BIG-2", "quarter": "2025Q1", "interest_days": 90},
        ORGS.bank2,
    )


def test_subsidy_is_half_up_act_360_and_once_per_quarter(subsidy: Subsidy) -> None:
    subsidy.call("RegisterLoan", subsidy.loan_args("L1", 12_345_679), ORGS.bank)
    claim = subsidy.call(
        "ClaimSubsidy", {"loan_id": "L1", "quarter": "2025Q1", "interest_days": 89}, ORGS.bank
    )
    assert claim["subsidy"] == int(Fraction(12_345_679 * 100 * 89, 10_000 * 360) + Fraction(1, 2))
    subsidy.rejected(
        "CLAIM_EXISTS",
        "ClaimSubsidy",
        {"loan_id": "L1", "quarter": "2025Q1", "interest_days": 1},
        ORGS.bank,
    )
    subsidy.rejected(
        "BAD_ARGUMENT",
        "ClaimSubsidy",
        {"loan_id": "L1", "quarter": "2025Q2", "interest_days": 92},
        ORGS.bank,
    )
    subsidy.rejected(
        "SUBSIDY_INELIGIBLE",
        "ClaimSubsidy",
        {"loan_id": "L1", "quarter": "2026Q1", "interest_days": 1},
        ORGS.bank,
    )
    subsidy.rejected(
        "NOT_AUTHORIZED",
        "ApproveClaim",
        {"bank": "BankMSP", "loan_id": "L1", "quarter": "2025Q1", "payment_ref": "P"},
        ORGS.bank,
    )
    approved = subsidy.call(
        "ApproveClaim",
        {"bank": "BankMSP", "loan_id": "L1", "quarter": "2025Q1", "payment_ref": "FIN-001"},
        ORGS.govfund,
    )
    assert approved["status"] == "APPROVED"
    claims = subsidy.ledger.query(
        subsidy.contract, "ClaimsOf", {"party": "Supplier1MSP"}, creator=ORGS.regulator
    )
    assert [c["payment_ref"] for c in claims] == ["FIN-001"]


def test_risk_compensation_is_capped_by_the_fund_which_decreases_on_approval(
    subsidy: Subsidy,
) -> None:
    subsidy.call("RegisterLoan", subsidy.loan_args("D1", 5_000_000_000), ORGS.bank)
    subsidy.rejected(
        "LOAN_NOT_DEFAULTED", "ClaimRiskCompensation", {"loan_id": "D1", "loss": 1_000}, ORGS.bank
    )
    subsidy.call("MarkLoanDefaulted", {"loan_id": "D1", "default_date": "2025-06-30"}, ORGS.bank)
    claim = subsidy.call(
        "ClaimRiskCompensation", {"loan_id": "D1", "loss": 3_000_000_001}, ORGS.bank
    )
    assert claim["by_ratio"] == 1_200_000_000  # 40% of the loss, half-up
    assert claim["claimed"] == 1_000_000_000  # capped by the fund
    subsidy.rejected(
        "CLAIM_EXISTS", "ClaimRiskCompensation", {"loan_id": "D1", "loss": 1}, ORGS.bank
    )
    subsidy.call(
        "ApproveCompensation",
        {"bank": "BankMSP", "loan_id": "D1", "payment_ref": "F-9"},
        ORGS.govfund,
    )
    program = subsidy.ledger.query(
        subsidy.contract, "GetProgram", {"program_id": "GHD-2025"}, creator=ORGS.bank
    )
    assert program["fund_balance"] == 0
    subsidy.call("RegisterLoan", subsidy.loan_args("D2", 10_000_000), ORGS.bank)
    subsidy.call("MarkLoanDefaulted", {"loan_id": "D2", "default_date": "2025-06-30"}, ORGS.bank)
    subsidy.rejected(
        "FUND_EXHAUSTED", "ClaimRiskCompensation", {"loan_id": "D2", "loss": 1}, ORGS.bank
    )


def test_only_govfund_creates_programs_and_regulator_writes_nothing(subsidy: Subsidy) -> None:
    subsidy.rejected("NOT_AUTHORIZED", "CreateProgram", {**PROGRAM, "program_id": "X"}, ORGS.bank)
    subsidy.rejected("PROGRAM_EXISTS", "CreateProgram", PROGRAM, ORGS.govfund)
    for fn in sorted(subsidy.contract.functions()):
        if subsidy.contract.function_kind(fn) == "submit":
            subsidy.rejected("READ_ONLY_ROLE", fn, {"program_id": "GHD-2025"}, ORGS.regulator)
    subsidy.rejected(
        "SUBSIDY_INELIGIBLE",
        "RegisterLoan",
        {**subsidy.loan_args("R", 20_000_000), "region": "GD"},
        ORGS.bank,
    )
    assert (
        subsidy.ledger.query(
            subsidy.contract, "GetProgram", {"program_id": "GHD-2025"}, creator=ORGS.regulator
        )["subsidy_bps"]
        == 100
    )
