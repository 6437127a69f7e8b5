"""A small driver for the warehouse contract (`World`) shared by the warehouse
tests, plus unit tests of the contract's integer arithmetic."""

from __future__ import annotations

import datetime as dt
import itertools
from fractions import Fraction
from typing import Any

import pytest

from chaincode.contracts import warehouse_rules as rules
from chaincode.contracts.warehouse import WarehouseContract
from chaincode.errors import ChaincodeError
from chaincode.stub import Creator, Timestamp
from tests.unit.contracts.conftest import ORGS
from tests.unit.contracts.ledger import TestLedger, timestamp_on

SITE = "SH01"
COPPER = "CU-A"
TONNE = 1000  # quantities in kg; prices per tonne
PRICE = 7_000_000  # CNY 70,000.00 per tonne, in fen


def half_up(value: Fraction) -> int:
    """Reference half-up rounding for non-negative values."""
    return int(value + Fraction(1, 2))


class World:
    """Calls the warehouse contract on a `TestLedger` with fresh request ids."""

    def __init__(self, ledger: TestLedger) -> None:
        self.ledger = ledger
        self.contract = WarehouseContract()
        self._ids = itertools.count(1)
        self._lots = itertools.count(1)

    # --- raw calls ------------------------------------------------------------

    def call(self, fn: str, args: dict[str, Any], who: Creator, ts: Any = None) -> Any:
        args = dict(args)
        args.setdefault("request_id", f"req-{next(self._ids)}")
        return self.ledger.invoke(self.contract, fn, args, creator=who, ts=ts)

    def query(self, fn: str, args: dict[str, Any], who: Creator = ORGS.regulator) -> Any:
        return self.ledger.query(self.contract, fn, args, creator=who)

    def rejected(
        self, code: str, fn: str, args: dict[str, Any], who: Creator, ts: Any = None
    ) -> ChaincodeError:
        """Assert `fn` fails with `code` and leaves the ledger unchanged."""
        before = self.ledger.state_hash()
        with pytest.raises(ChaincodeError) as info:
            self.call(fn, args, who, ts)
        assert info.value.code == code, info.value.message
        assert self.ledger.state_hash() == before
        return info.value

    def now(self, ts: Any = None) -> int:
        if isinstance(ts, Timestamp):
            return ts.seconds
        return (timestamp_on(ts) if ts is not None else self.ledger.clock.now()).seconds

    # --- building blocks ------------------------------------------------------

    def site(self, warehouse_id: str = SITE, *, overseas: bool = False) -> Any:
        return self.call(
            "RegisterSite",
            {
                "warehouse_id": warehouse_id,
                "country": "US" if overseas else "CN",
                "is_overseas": overseas,
                "location": f"{warehouse_id} zone A bin 1",
            },
            ORGS.warehouse,
        )

    def attest(self, quantity: int, *, sku: str = COPPER, site: str = SITE, ts: Any = None) -> Any:
        return self.call(
            "AttestInventory",
            {
                "warehouse_id": site,
                "sku": sku,
                "unit": "kg",
                "quantity": quantity,
                "method": "STOCKTAKE",
            },
            ORGS.warehouse,
            ts,
        )

    def issue_args(
        self,
        quantity: int,
        *,
        lots: list[str] | None = None,
        depositor: str = "Supplier1MSP",
        sku: str = COPPER,
        site: str = SITE,
        insured: int = 10_000_000_000,
        insurance_currency: str = "CNY",
    ) -> dict[str, Any]:
        return {
            "warehouse_id": site,
            "depositor": depositor,
            "goods": {
                "sku": sku,
                "description": "cathode copper",
                "quality_grade": "A",
                "unit": "kg",
                "quantity": quantity,
                "packing": "bundles",
                "pieces": quantity // 2500 or 1,
                "marks": "CU",
                "lot_ids": lots or [f"L{next(self._lots)}"],
            },
            "loss_standard_ppm": 100,
            "storage_start": "2025-06-01",
            "storage_end": "2026-06-01",
            "storage_fee": {"amount": 500_000, "currency": "CNY"},
            "insurance": {
                "insurer": "PICC",
                "insured_value": insured,
                "currency": insurance_currency,
                "period_end": "2026-06-30",
            },
        }

    def issue(self, quantity: int, ts: Any = None, **kwargs: Any) -> str:
        receipt = self.call("IssueReceipt", self.issue_args(quantity, **kwargs), ORGS.warehouse, ts)
        return str(receipt["receipt_id"])

    def value(
        self,
        receipt_id: str,
        unit_price: int = PRICE,
        *,
        currency: str = "CNY",
        haircut_bps: int = 0,
        ts: Any = None,
        who: Creator = ORGS.appraiser,
    ) -> Any:
        return self.call(
            "UpdateValuation",
            {
                "receipt_id": receipt_id,
                "unit_price": unit_price,
                "price_unit_quantity": TONNE,
                "currency": currency,
                "haircut_bps": haircut_bps,
            },
            who,
            ts,
        )

    def pledge_args(
        self,
        receipt_id: str,
        principal: int,
        *,
        bank: str = "BankMSP",
        loan_id: str = "LOAN-1",
        registration_ref: str | None = None,
        currency: str = "CNY",
        maturity: str = "2025-12-31",
        **extra: Any,
    ) -> dict[str, Any]:
        args: dict[str, Any] = {
            "receipt_id": receipt_id,
            "bank": bank,
            "loan_id": loan_id,
            "principal": principal,
            "currency": currency,
            "maturity_date": maturity,
            "registration_ref": registration_ref or f"CRC-{receipt_id}-{loan_id}",
        }
        args.update(extra)
        return args

    def pledge(self, receipt_id: str, principal: int, who: Creator = ORGS.s1, **kwargs: Any) -> Any:
        return self.call("PledgeReceipt", self.pledge_args(receipt_id, principal, **kwargs), who)

    def receipt(self, receipt_id: str) -> Any:
        return self.query("GetReceipt", {"receipt_id": receipt_id})

    def loan(self, loan_id: str = "LOAN-1", bank: str = "BankMSP") -> Any:
        return self.query("GetLoan", {"bank": bank, "loan_id": loan_id})

    def stock(self, sku: str = COPPER, site: str = SITE) -> Any:
        return self.query("GetStock", {"warehouse_id": site, "sku": sku})


@pytest.fixture
def world(ledger: TestLedger) -> World:
    return World(ledger)


# --- the arithmetic ----------------------------------------------------------------


def _receipt(quantity: int, unit_price: int, haircut: int, per: int) -> dict[str, Any]:
    return {
        "goods": {"quantity": quantity},
        "valuation": {"unit_price": unit_price, "haircut_bps": haircut, "price_unit_quantity": per},
    }


def test_collateral_value_is_integer_with_haircut_and_half_up() -> None:
    # 500 t at CNY 70,000.01/t with a 12.5% haircut.
    value = rules.collateral_value(_receipt(500_000, 7_000_001, 1250, TONNE))
    assert value == half_up(Fraction(500_000 * 7_000_001 * 8750, 10_000 * TONNE))
    assert isinstance(value, int)
    # A fraction of exactly one half rounds up: 1 kg at 1 fen/t, 50% haircut → 0.0005 → 0;
    # 1000 kg at 1 fen/t, 50% haircut → 0.5 fen → 1.
    assert rules.collateral_value(_receipt(1, 1, 5000, TONNE)) == 0
    assert rules.collateral_value(_receipt(1000, 1, 5000, TONNE)) == 1
    assert rules.collateral_value({"goods": {"quantity": 5}, "valuation": None}) == 0


def test_ltv_thresholds_compare_exactly_without_rounding() -> None:
    # 8000 bp exactly reaches the call threshold; one fen less does not.
    assert rules.ltv_at_least(8_000, 10_000, 8000)
    assert not rules.ltv_at_least(7_999, 10_000, 8000)
    # 7999.5 bp is below 8000 even though it would round to 8000.
    assert not rules.ltv_at_least(15_999, 20_000, 8000)
    assert rules.ltv_bps(15_999, 20_000) == 7999
    assert rules.ltv_at_least(1, 0, 9000)  # nothing to cover exposure
    assert not rules.ltv_at_least(0, 0, 9000)
    assert rules.ltv_bps(1, 0) is None


def test_fx_conversion_half_up_both_directions() -> None:
    snapshot = {"pair": "USD/CNY", "rate_e8": 712_345_678}
    for usd in (1, 7, 12_345_679, 10**12 + 3):
        expected = half_up(Fraction(usd * 712_345_678, 10**8))
        assert rules.convert(usd, "USD", "CNY", snapshot) == expected
    assert rules.convert(712, "CNY", "USD", snapshot) == half_up(Fraction(712 * 10**8, 712_345_678))
    # JPY has exponent 0: 1.00 USD (100 cents) at 150.5 JPY → 150.5 → 151 JPY.
    jpy = {"pair": "USD/JPY", "rate_e8": 15_050_000_000}
    assert rules.convert(100, "USD", "JPY", jpy) == 151
    assert rules.convert(5, "CNY", "CNY", None) == 5
    with pytest.raises(ChaincodeError) as info:
        rules.convert(5, "EUR", "CNY", snapshot)
    assert info.value.code == "CURRENCY_MISMATCH"


def test_ltv_cap_lower_for_overseas_and_never_above_policy() -> None:
    params = {"ltv_max_bps": 7000}
    assert rules.ltv_cap_bps(params, False, None) == 7000
    assert rules.ltv_cap_bps(params, True, None) == rules.OVERSEAS_LTV_MAX_BPS
    assert rules.ltv_cap_bps(params, False, 6000) == 6000
    with pytest.raises(ChaincodeError):
        rules.ltv_cap_bps(params, False, 7001)


def test_receipt_ids_follow_site_date_sequence(world: World) -> None:
    world.site()
    world.attest(1_000 * TONNE)
    first = world.issue(100 * TONNE)
    second = world.issue(100 * TONNE)
    assert (first, second) == ("SH01-20250701-0001", "SH01-20250701-0002")
    world.ledger.clock.advance(1)
    assert world.issue(100 * TONNE) == "SH01-20250702-0001"
    assert dt.date(2025, 7, 2) == world.ledger.clock.today
