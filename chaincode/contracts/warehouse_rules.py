"""Pure integer arithmetic and record helpers of the warehouse-receipt contract
(DOMAIN §4, §7): collateral value, LTV, FX conversion, freshness, policy limits,
and the status bookkeeping shared by the receipt and the pledge functions.

Money and quantities are integers throughout. Decisions against LTV thresholds
are made by cross-multiplication (`exposure × 10_000 ≥ threshold × value`), so
no rounding ever decides a margin call; `ltv_bps` (floored) is for display only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from chaincode.contract import JsonObject
from chaincode.contracts import common
from chaincode.contracts.warehouse_state import TxState, integer, key, obj
from chaincode.errors import ChaincodeError
from chaincode.stub import Stub

CONTRACT = "warehouse"
BPS = 10_000
E8 = 100_000_000
DAY_SECONDS = 86_400

OVERSEAS_LTV_MAX_BPS = 5000
"""DOMAIN §4.6: lower `ltv_max` for overseas warehouses when the policy sets no
`ltv_max_overseas_bps` of its own."""

ACTIVE = "ACTIVE"
PLEDGED = "PLEDGED"
MARGIN_CALL = "MARGIN_CALL"
DEFAULTED = "DEFAULTED"
LIQUIDATING = "LIQUIDATING"
FROZEN = "FROZEN"
REDEEMED = "REDEEMED"
CANCELLED = "CANCELLED"
TERMINAL = frozenset({REDEEMED, CANCELLED})
ENCUMBERED = frozenset({PLEDGED, MARGIN_CALL, DEFAULTED, LIQUIDATING})

# Loan statuses beyond the shared PLEDGED / MARGIN_CALL / DEFAULTED / LIQUIDATING.
RELEASED = "RELEASED"
TRANSFERRED = "TRANSFERRED"


# --- keys -------------------------------------------------------------------------


def receipt_key(receipt_id: str) -> str:
    return key("receipt", receipt_id)


def lot_key(warehouse_id: str, lot_id: str) -> str:
    """`lot~{warehouse}~{lot_id}` → the one live receipt on that lot (DOMAIN §4.5 item 1)."""
    return key("lot", warehouse_id, lot_id)


def stock_key(warehouse_id: str, sku: str) -> str:
    return key("stock", warehouse_id, sku)


def site_key(warehouse_id: str) -> str:
    return key("site", warehouse_id)


def loan_key(bank: str, loan_id: str) -> str:
    return key("wr_loan", bank, loan_id)


def registration_key(registration_ref: str) -> str:
    """CRC registration ref → receipt; never deleted, so a ref is never reused."""
    return key("wr_registration", registration_ref)


# --- loading ----------------------------------------------------------------------


def load_receipt(tx: TxState, receipt_id: str) -> JsonObject:
    receipt = tx.get(receipt_key(receipt_id))
    if receipt is None:
        raise ChaincodeError("RECEIPT_NOT_FOUND", f"no receipt {receipt_id!r}")
    return receipt


def load_loan(tx: TxState, bank: str, loan_id: str) -> JsonObject:
    loan = tx.get(loan_key(bank, loan_id))
    if loan is None:
        raise ChaincodeError("LOAN_NOT_FOUND", f"{bank} has no receipt loan {loan_id!r}")
    return loan


def put_receipt(tx: TxState, receipt: JsonObject) -> None:
    tx.put(receipt_key(receipt["receipt_id"]), receipt)


def put_loan(tx: TxState, loan: JsonObject) -> None:
    tx.put(loan_key(loan["bank"], loan["loan_id"]), loan)


# --- status -----------------------------------------------------------------------


def effective_status(receipt: JsonObject) -> str:
    """The status a receipt returns to when unfrozen (its own status otherwise)."""
    frozen = receipt.get("frozen")
    return str(frozen["previous_status"]) if frozen else str(receipt["status"])


def set_status(receipt: JsonObject, status: str) -> None:
    """Move a receipt to `status`; a FROZEN receipt stays frozen and only its
    `previous_status` moves (a freeze overlays every other state, DOMAIN §4.3)."""
    if receipt.get("frozen"):
        receipt["frozen"]["previous_status"] = status
    else:
        receipt["status"] = status


def clear_pledge(receipt: JsonObject, how: str, tx_id: str) -> None:
    """End the receipt's pledge (kept in `pledge_history`) and any consent."""
    ended = {**receipt["pledge"], "ended": how, "ended_tx_id": tx_id}
    receipt["pledge_history"] = [*receipt.get("pledge_history", []), ended]
    receipt["pledge"] = None
    receipt["outbound_consent"] = None


def is_live(receipt: JsonObject) -> bool:
    return receipt["status"] not in TERMINAL


# --- policy -----------------------------------------------------------------------


def policy_for(stub: Stub, version: int) -> Mapping[str, Any]:
    """The parameters of policy `version`, pinned on the receipt or loan
    (DOMAIN §3.4: later changes don't apply retroactively)."""
    return common.policy_at(stub, version)


def ltv_cap_bps(params: Mapping[str, Any], overseas: bool, requested: int | None) -> int:
    """`ltv_max` for a pledge: the policy cap, lower for overseas sites, and
    lower still when the bank asks for a stricter one."""
    cap = int(params["ltv_max_bps"])
    if overseas:
        cap = min(cap, int(params.get("ltv_max_overseas_bps", OVERSEAS_LTV_MAX_BPS)))
    if requested is not None:
        if requested > cap:
            raise ChaincodeError(
                "LTV_EXCEEDED", f"requested ltv_max_bps {requested} is above the cap {cap}"
            )
        cap = requested
    return cap


def attestation_max_age_seconds(params: Mapping[str, Any], overseas: bool) -> int:
    ages = params["attestation_max_age_days"]
    days = ages["overseas" if overseas else "domestic"] if isinstance(ages, dict) else ages
    return int(days) * DAY_SECONDS


# --- valuation --------------------------------------------------------------------


def collateral_value(receipt: JsonObject) -> int:
    """`quantity × unit_price × (10_000 − haircut_bps) / 10_000`, with the unit
    price quoted per `price_unit_quantity` smallest units; rounded half-up once
    (DOMAIN §1). Recomputed from the current quantity, so a partial outbound
    lowers it. 0 when the receipt has no valuation."""
    valuation = receipt.get("valuation")
    if not valuation:
        return 0
    numerator = (
        int(receipt["goods"]["quantity"])
        * int(valuation["unit_price"])
        * (BPS - int(valuation["haircut_bps"]))
    )
    return common.round_half_up(numerator, BPS * int(valuation["price_unit_quantity"]))


def fx_snapshot(stub: Stub, raw: Any, params: Mapping[str, Any]) -> JsonObject:
    """Validate an `fx_snapshot {pair, rate_e8, source, ts, quote_id}` (DOMAIN §7);
    STALE_FX when older than `fx_max_age_seconds` at this transaction."""
    if not isinstance(raw, dict):
        raise ChaincodeError("BAD_ARGUMENT", "fx_snapshot must be a JSON object")
    pair = raw.get("pair")
    if not isinstance(pair, str) or pair.count("/") != 1:
        raise ChaincodeError("BAD_ARGUMENT", "fx_snapshot.pair must look like 'USD/CNY'")
    base, quote = pair.split("/")
    common.currency(base, "fx_snapshot.pair base")
    common.currency(quote, "fx_snapshot.pair quote")
    rate = integer(raw.get("rate_e8"), "fx_snapshot.rate_e8", minimum=1)
    snapshot_ts = integer(raw.get("ts"), "fx_snapshot.ts", minimum=0)
    source = raw.get("source")
    quote_id = raw.get("quote_id")
    if not isinstance(source, str) or not source or not isinstance(quote_id, str) or not quote_id:
        raise ChaincodeError("BAD_ARGUMENT", "fx_snapshot needs a source and a quote_id")
    now = stub.get_tx_timestamp().seconds
    if snapshot_ts > now:
        raise ChaincodeError("BAD_ARGUMENT", "fx_snapshot.ts is in the future")
    max_age = int(params["fx_max_age_seconds"])
    if now - snapshot_ts > max_age:
        raise ChaincodeError(
            "STALE_FX", f"fx snapshot is {now - snapshot_ts}s old (max {max_age}s)"
        )
    return {
        "pair": pair,
        "rate_e8": rate,
        "source": source,
        "ts": snapshot_ts,
        "quote_id": quote_id,
    }


def convert(value: int, source: str, target: str, snapshot: JsonObject | None) -> int:
    """`value` minor units of `source` in minor units of `target`, half-up:
    `round_half_up(v × rate_e8 / 10^8 × 10^(exp_target − exp_source))` (DOMAIN §7).
    The snapshot's pair may be either way round."""
    if source == target:
        return value
    if snapshot is None:
        raise ChaincodeError("CURRENCY_MISMATCH", f"{source} → {target} needs an fx_snapshot")
    base, quote = str(snapshot["pair"]).split("/")
    exp_source = common.CURRENCY_EXPONENT[source]
    exp_target = common.CURRENCY_EXPONENT[target]
    rate = int(snapshot["rate_e8"])
    if (base, quote) == (source, target):
        numerator, denominator = value * rate, E8
    elif (base, quote) == (target, source):
        numerator, denominator = value * E8, rate
    else:
        raise ChaincodeError(
            "CURRENCY_MISMATCH", f"fx_snapshot pair {base}/{quote} does not convert {source}"
        )
    if exp_target >= exp_source:
        numerator *= 10 ** (exp_target - exp_source)
    else:
        denominator *= 10 ** (exp_source - exp_target)
    return common.round_half_up(numerator, denominator)


def loan_collateral_value(tx: TxState, loan: JsonObject) -> int:
    """Σ value of the loan's receipts, in the loan currency (at the loan's FX)."""
    total = 0
    for receipt_id in loan["receipts"]:
        receipt = load_receipt(tx, receipt_id)
        valuation = receipt.get("valuation")
        if not valuation:
            continue
        total += convert(
            collateral_value(receipt),
            str(valuation["currency"]),
            str(loan["currency"]),
            loan.get("fx_snapshot"),
        )
    return total


def exposure(loan: JsonObject) -> int:
    """What the collateral must cover: outstanding less cash margin, ≥ 0."""
    return max(int(loan["outstanding"]) - int(loan["cash_margin"]), 0)


def ltv_at_least(exposure_amount: int, value: int, threshold_bps: int) -> bool:
    """`exposure / value ≥ threshold` exactly; no collateral value counts as ∞."""
    if value <= 0:
        return exposure_amount > 0
    return exposure_amount * BPS >= threshold_bps * value


def ltv_bps(exposure_amount: int, value: int) -> int | None:
    """Floored LTV in basis points, for display; None when there is no value."""
    return None if value <= 0 else exposure_amount * BPS // value


def freshness(
    receipt: JsonObject, stock: JsonObject | None, stub: Stub, params: Mapping[str, Any]
) -> None:
    """A new pledge (or a top-up receipt) needs a fresh valuation and a fresh
    stock attestation for its site and SKU (DOMAIN §4.4 W3, §4.5 item 4)."""
    now = stub.get_tx_timestamp().seconds
    valuation = receipt.get("valuation")
    max_valuation_age = int(params["valuation_max_age_days"]) * DAY_SECONDS
    if not valuation:
        raise ChaincodeError("STALE_VALUATION", f"receipt {receipt['receipt_id']} has no valuation")
    if now - int(valuation["ts"]) > max_valuation_age:
        raise ChaincodeError(
            "STALE_VALUATION",
            f"valuation of {receipt['receipt_id']} is {now - int(valuation['ts'])}s old "
            f"(max {max_valuation_age}s)",
        )
    attestation = stock.get("last_attestation") if stock else None
    max_attestation_age = attestation_max_age_seconds(params, bool(receipt["is_overseas"]))
    if not attestation or now - int(attestation["ts"]) > max_attestation_age:
        raise ChaincodeError(
            "STALE_ATTESTATION",
            f"stock attestation for {receipt['receipt_id']} is missing or older than "
            f"{max_attestation_age // DAY_SECONDS} days",
        )
    if stock and stock.get("shortfall"):
        raise ChaincodeError(
            "STOCK_SHORTFALL", f"site {receipt['warehouse_id']} has a stock shortfall"
        )


def optional_int(args: JsonObject, name: str, *, minimum: int = 0) -> int | None:
    value = args.get(name)
    return None if value is None else integer(value, name, minimum=minimum)


def optional_obj(args: JsonObject, name: str) -> JsonObject | None:
    return obj(args, name, required=False)


def check_insurance(
    receipt: JsonObject,
    principal: int,
    loan_currency: str,
    maturity: dt.date,
    snapshot: JsonObject | None,
) -> None:
    """The insurance must cover the pledged principal until loan maturity
    (DOMAIN §4.2 `insurance`); INSURANCE_INSUFFICIENT otherwise."""
    insurance = receipt["insurance"]
    if insurance is None:
        raise ChaincodeError("INSURANCE_INSUFFICIENT", "a pledged receipt must be insured")
    try:
        insured = convert(
            int(insurance["insured_value"]), insurance["currency"], loan_currency, snapshot
        )
    except ChaincodeError:
        raise ChaincodeError(
            "INSURANCE_INSUFFICIENT", f"insurance in {insurance['currency']} cannot be compared"
        ) from None
    if insured < principal:
        raise ChaincodeError("INSURANCE_INSUFFICIENT", f"insured {insured} < principal {principal}")
    if dt.date.fromisoformat(insurance["period_end"]) < maturity:
        raise ChaincodeError("INSURANCE_INSUFFICIENT", "insurance ends before loan maturity")


def check_shelf_life(receipt: JsonObject, maturity: dt.date, params: Mapping[str, Any]) -> None:
    """DOMAIN §4.6: loan maturity ≤ shelf_life_end − safety days."""
    shelf_life_end = receipt.get("shelf_life_end")
    if shelf_life_end is None:
        return
    safety = dt.timedelta(days=int(params.get("shelf_life_safety_days", 0)))
    if maturity > dt.date.fromisoformat(shelf_life_end) - safety:
        raise ChaincodeError("SHELF_LIFE_EXCEEDED", "loan matures too close to shelf-life end")
