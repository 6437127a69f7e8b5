"""Pledge financing against warehouse receipts (DOMAIN §4.4 W3–W8, §4.5, §7),
mixed into `WarehouseContract`.

A pledge is a loan record `wr_loan~{bank}~{loan_id}` over one or more receipts
(the pledged one plus any top-up receipts). The loan's status is the status of
each of its receipts (PLEDGED, MARGIN_CALL, DEFAULTED, LIQUIDATING); a frozen
receipt keeps the loan status as its `frozen.previous_status`.

    exposure = max(outstanding − cash_margin, 0)
    value    = Σ receipt value converted to the loan currency at the loan's FX
    LTV      = exposure / value, compared with thresholds by cross-multiplying

Every limit comes from the policy version pinned on the receipt (pledge) or on
the loan (its primary receipt's version) — DOMAIN §3.4.

Bank approval of a pledge is the endorsement policy's business (DOMAIN §6.3:
receipt pledges are endorsed by the bank too); the function is called by the
holder and names the bank.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from chaincode.contract import JsonObject, evaluate, submit
from chaincode.contracts import common
from chaincode.contracts import warehouse_rules as rules
from chaincode.contracts.warehouse_state import TxState, integer, key, transact
from chaincode.errors import ChaincodeError
from chaincode.stub import Creator, Stub


def _is_appraiser(stub: Stub, creator: Creator) -> bool:
    kind = common.kind_of(stub, creator.mspid)
    if kind == "oracle":
        return True
    return kind in ("bank", "warehouse") and creator.attribute("role") == "appraiser"


def _registration(
    tx: TxState, args: JsonObject, params: Mapping[str, Any], receipt_id: str
) -> str | None:
    """The CRC `registration_ref` (required when `require_registration`), never
    used before for any receipt (REGISTRATION_REUSED)."""
    ref = args.get("registration_ref")
    if ref is None or ref == "":
        if params["require_registration"]:
            raise ChaincodeError("REGISTRATION_REQUIRED", "registration_ref is required")
        return None
    if not isinstance(ref, str):
        raise ChaincodeError("BAD_ARGUMENT", "registration_ref must be a string")
    used = tx.get(rules.registration_key(ref))
    if used is not None:
        raise ChaincodeError(
            "REGISTRATION_REUSED", f"registration {ref} already used for {used['receipt_id']}"
        )
    tx.put(rules.registration_key(ref), {"receipt_id": receipt_id, "tx_id": tx.stub.get_tx_id()})
    return ref


def _require_pledgeable(tx: TxState, receipt: JsonObject, creator: Creator) -> JsonObject | None:
    """Holder, unpledged, ACTIVE, no endorsement pending; returns its stock line."""
    if receipt["holder"] != creator.mspid:
        raise ChaincodeError("NOT_HOLDER", f"{creator.mspid} does not hold {receipt['receipt_id']}")
    if receipt["pledge"] is not None:
        raise ChaincodeError(
            "ALREADY_PLEDGED",
            f"receipt {receipt['receipt_id']} is pledged to {receipt['pledge']['pledgee_bank']}",
        )
    if receipt["status"] == rules.FROZEN:
        raise ChaincodeError("RECEIPT_FROZEN", f"receipt {receipt['receipt_id']} is frozen")
    if receipt["status"] != rules.ACTIVE:
        raise ChaincodeError("INVALID_STATE", f"receipt is {receipt['status']}")
    if receipt["pending_endorsement"] is not None:
        raise ChaincodeError("ENDORSEMENT_PENDING", "an endorsement is pending")
    return tx.get(rules.stock_key(receipt["warehouse_id"], receipt["goods"]["sku"]))


def _pledge_record(
    stub: Stub, loan: JsonObject, registration_ref: str | None, role: str
) -> JsonObject:
    return {
        "pledgee_bank": loan["bank"],
        "loan_id": loan["loan_id"],
        "principal": loan["principal"],
        "currency": loan["currency"],
        "ltv_max_bps": loan["ltv_max_bps"],
        "registration_ref": registration_ref,
        "pledged_at": stub.get_tx_timestamp().seconds,
        "role": role,
    }


def _apply_loan_status(tx: TxState, loan: JsonObject, status: str) -> None:
    """Set the loan's status and mirror it on each of its receipts."""
    if loan["status"] != status:
        loan["status_history"] = [
            *loan["status_history"],
            {
                "status": status,
                "tx_id": tx.stub.get_tx_id(),
                "ts": tx.stub.get_tx_timestamp().seconds,
            },
        ]
    loan["status"] = status
    for receipt_id in loan["receipts"]:
        receipt = rules.load_receipt(tx, receipt_id)
        rules.set_status(receipt, status)
        rules.put_receipt(tx, receipt)
    rules.put_loan(tx, loan)


def _ltv_snapshot(tx: TxState, loan: JsonObject) -> tuple[int, int]:
    value = rules.loan_collateral_value(tx, loan)
    exposure = rules.exposure(loan)
    loan["collateral_value"] = value
    loan["ltv_bps"] = rules.ltv_bps(exposure, value)
    return exposure, value


def _cure_if_below_call(tx: TxState, loan: JsonObject, params: Mapping[str, Any]) -> None:
    """MARGIN_CALL → PLEDGED once LTV < call (W5); the due date is cleared."""
    exposure, value = _ltv_snapshot(tx, loan)
    if loan["status"] == rules.MARGIN_CALL and not rules.ltv_at_least(
        exposure, value, int(params["ltv_call_bps"])
    ):
        loan["margin_call_due"] = None
        _apply_loan_status(tx, loan, rules.PLEDGED)
    rules.put_loan(tx, loan)


def _bank_loan(tx: TxState, creator: Creator, args: JsonObject, *statuses: str) -> JsonObject:
    """The caller bank's loan `loan_id`, in one of `statuses` (INVALID_STATE)."""
    loan = rules.load_loan(tx, creator.mspid, common.text(args, "loan_id"))
    if loan["status"] not in statuses:
        raise ChaincodeError("INVALID_STATE", f"loan {loan['loan_id']} is {loan['status']}")
    return loan


class PledgeFunctions:
    """W3–W8 and the pledge-attempt audit log; see the module docstring."""

    @submit
    def pledge_receipt(self, stub: Stub, args: JsonObject) -> JsonObject:
        """W3. The holder pledges an ACTIVE receipt to `bank` for loan `loan_id`:
        `principal`, `currency`, `maturity_date`, `registration_ref`, optional
        `ltv_max_bps` (stricter than the policy cap), and `fx_snapshot` when the
        loan currency differs from the valuation currency (DOMAIN §7). Instead of
        `principal`, `foreign_principal {amount, currency}` gives it in another
        currency; the loan principal is then its half-up conversion at the
        snapshot (a USD receipt financed in CNY, scenario 36).

        Rejections, in check order: NOT_HOLDER, ALREADY_PLEDGED, RECEIPT_FROZEN,
        INVALID_STATE, ENDORSEMENT_PENDING, NOT_A_BANK, REGISTRATION_REQUIRED,
        REGISTRATION_REUSED, LOAN_EXISTS, STALE_VALUATION, STALE_ATTESTATION,
        STOCK_SHORTFALL, CURRENCY_MISMATCH, STALE_FX, LTV_EXCEEDED
        (principal > floor(value × ltv_max / 10_000)), INSURANCE_INSUFFICIENT,
        SHELF_LIFE_EXCEEDED."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            receipt = rules.load_receipt(tx, common.text(args, "receipt_id"))
            stock = _require_pledgeable(tx, receipt, creator)
            bank = common.text(args, "bank")
            if common.kind_of(stub, bank) != "bank":
                raise ChaincodeError("NOT_A_BANK", f"{bank} is not a bank of this channel")
            params = rules.policy_for(stub, int(receipt["policy_version"]))
            loan_id = common.text(args, "loan_id")
            registration_ref = _registration(tx, args, params, receipt["receipt_id"])
            if tx.get(rules.loan_key(bank, loan_id)) is not None:
                raise ChaincodeError("LOAN_EXISTS", f"{bank} already has loan {loan_id}")
            foreign = rules.optional_obj(args, "foreign_principal")
            if (foreign is None) == (args.get("principal") is None):
                raise ChaincodeError("BAD_ARGUMENT", "give principal or foreign_principal")
            loan_currency = common.currency(args.get("currency"))
            maturity = common.parse_date(args.get("maturity_date"), "maturity_date")
            if maturity <= common.tx_date(stub):
                raise ChaincodeError("BAD_ARGUMENT", "maturity_date must be after today")
            rules.freshness(receipt, stock, stub, params)
            valuation = receipt["valuation"]
            snapshot = None
            if args.get("fx_snapshot") is not None or valuation["currency"] != loan_currency:
                if args.get("fx_snapshot") is None:
                    raise ChaincodeError(
                        "CURRENCY_MISMATCH",
                        f"valuation in {valuation['currency']}, loan in {loan_currency}: "
                        "an fx_snapshot is required",
                    )
                snapshot = rules.fx_snapshot(stub, args["fx_snapshot"], params)
            if foreign is None:
                principal = common.amount(args.get("principal"), "principal")
            else:
                foreign = {
                    "amount": common.amount(foreign.get("amount"), "foreign_principal.amount"),
                    "currency": common.currency(foreign.get("currency"), "foreign_principal"),
                }
                principal = rules.convert(
                    foreign["amount"], foreign["currency"], loan_currency, snapshot
                )
            value = rules.convert(
                rules.collateral_value(receipt), valuation["currency"], loan_currency, snapshot
            )
            ltv_max = rules.ltv_cap_bps(
                params, bool(receipt["is_overseas"]), rules.optional_int(args, "ltv_max_bps")
            )
            cap = value * ltv_max // rules.BPS
            if principal > cap:
                raise ChaincodeError(
                    "LTV_EXCEEDED",
                    f"principal {principal} > floor({value} × {ltv_max} / 10000) = {cap}",
                )
            rules.check_insurance(receipt, principal, loan_currency, maturity, snapshot)
            rules.check_shelf_life(receipt, maturity, params)
            loan: JsonObject = {
                "bank": bank,
                "loan_id": loan_id,
                "borrower": creator.mspid,
                "principal": principal,
                "foreign_principal": foreign,
                "outstanding": principal,
                "currency": loan_currency,
                "cash_margin": 0,
                "receipts": [receipt["receipt_id"]],
                "released_receipts": [],
                "status": rules.PLEDGED,
                "status_history": [
                    {
                        "status": rules.PLEDGED,
                        "tx_id": stub.get_tx_id(),
                        "ts": stub.get_tx_timestamp().seconds,
                    }
                ],
                "ltv_max_bps": ltv_max,
                "cap_at_pledge": cap,
                "value_at_pledge": value,
                "maturity_date": maturity.isoformat(),
                "margin_call_due": None,
                "fx_snapshot": snapshot,
                "policy_version": receipt["policy_version"],
                "pledged_at": stub.get_tx_timestamp().seconds,
                "repayments": [],
                "default_grounds": [],
            }
            receipt["pledge"] = _pledge_record(stub, loan, registration_ref, "primary")
            receipt["status"] = rules.PLEDGED
            receipt["ever_pledged"] = True
            rules.put_receipt(tx, receipt)
            _ltv_snapshot(tx, loan)
            rules.put_loan(tx, loan)
            tx.note(rules.receipt_key(receipt["receipt_id"]), status=rules.PLEDGED, bank=bank)
            return "ReceiptPledged", loan

        return transact(stub, rules.CONTRACT, "PledgeReceipt", args, body)

    @submit
    def update_valuation(self, stub: Stub, args: JsonObject) -> JsonObject:
        """W4. An appraiser (cert attribute role=appraiser in a bank or warehouse
        org, or an oracle org) prices a live receipt: `unit_price` (> 0, minor
        units per `price_unit_quantity` smallest units, default 1), `currency`,
        `haircut_bps` (0..9999, default 0), optional `as_of` (epoch seconds,
        default now; never older than the current valuation:
        VALUATION_NOT_MONOTONIC).

        On a PLEDGED or MARGIN_CALL loan: LTV ≥ liquidate → DEFAULTED; ≥ call →
        MARGIN_CALL due today + cure_days (an existing call keeps its due date);
        ≥ warn → `LtvWarning` event; below call, a margin call is cured."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            if not _is_appraiser(stub, creator):
                raise ChaincodeError("NOT_AUTHORIZED", f"{creator.enrollment_id} is no appraiser")
            receipt = rules.load_receipt(tx, common.text(args, "receipt_id"))
            if not rules.is_live(receipt):
                raise ChaincodeError("RECEIPT_CLOSED", f"receipt is {receipt['status']}")
            now = stub.get_tx_timestamp().seconds
            as_of = integer(args.get("as_of", now), "as_of", maximum=now)
            previous = receipt["valuation"]
            if previous is not None and as_of < int(previous["ts"]):
                raise ChaincodeError(
                    "VALUATION_NOT_MONOTONIC", f"as_of {as_of} is older than {previous['ts']}"
                )
            receipt["valuation"] = {
                "unit_price": common.amount(args.get("unit_price"), "unit_price"),
                "price_unit_quantity": integer(
                    args.get("price_unit_quantity", 1), "price_unit_quantity", minimum=1
                ),
                "currency": common.currency(args.get("currency")),
                "haircut_bps": integer(args.get("haircut_bps", 0), "haircut_bps", maximum=9999),
                "source": creator.mspid,
                "appraiser": creator.enrollment_id,
                "ts": as_of,
            }
            receipt["valuation"]["value"] = rules.collateral_value(receipt)
            rules.put_receipt(tx, receipt)
            pledge = receipt["pledge"]
            if pledge is None:
                return "ValuationUpdated", {"receipt": receipt, "loan": None}
            loan = rules.load_loan(tx, pledge["pledgee_bank"], pledge["loan_id"])
            if previous is not None and previous["currency"] != receipt["valuation"]["currency"]:
                rules.convert(
                    1, receipt["valuation"]["currency"], loan["currency"], loan["fx_snapshot"]
                )  # CURRENCY_MISMATCH if unconvertible
            event = _revalue_loan(tx, loan)
            return event, {"receipt": receipt, "loan": loan}

        return transact(stub, rules.CONTRACT, "UpdateValuation", args, body)

    @submit
    def top_up(self, stub: Stub, args: JsonObject) -> JsonObject:
        """W5. The borrower adds `cash_margin` (loan currency) and/or an ACTIVE,
        unpledged receipt `add_receipt_id` it holds (fresh valuation and
        attestation, its own unused `registration_ref`) to the loan of pledged
        receipt `receipt_id`. Loan PLEDGED or MARGIN_CALL; new LTV < call →
        PLEDGED."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            receipt = rules.load_receipt(tx, common.text(args, "receipt_id"))
            if receipt["pledge"] is None:
                raise ChaincodeError(
                    "NOT_PLEDGED", f"receipt {receipt['receipt_id']} is not pledged"
                )
            loan = rules.load_loan(
                tx, receipt["pledge"]["pledgee_bank"], receipt["pledge"]["loan_id"]
            )
            if loan["borrower"] != creator.mspid:
                raise ChaincodeError("NOT_BORROWER", f"{creator.mspid} is not the borrower")
            if loan["status"] not in (rules.PLEDGED, rules.MARGIN_CALL):
                raise ChaincodeError("INVALID_STATE", f"loan is {loan['status']}")
            cash = args.get("cash_margin")
            add_id = args.get("add_receipt_id")
            if cash is None and add_id is None:
                raise ChaincodeError("BAD_ARGUMENT", "give cash_margin or add_receipt_id")
            if cash is not None:
                loan["cash_margin"] += common.amount(cash, "cash_margin")
            if add_id is not None:
                extra = rules.load_receipt(tx, common.text(args, "add_receipt_id"))
                stock = _require_pledgeable(tx, extra, creator)
                params = rules.policy_for(stub, int(extra["policy_version"]))
                registration_ref = _registration(tx, args, params, extra["receipt_id"])
                rules.freshness(extra, stock, stub, params)
                rules.convert(
                    1, extra["valuation"]["currency"], loan["currency"], loan["fx_snapshot"]
                )  # CURRENCY_MISMATCH if unconvertible
                extra["pledge"] = _pledge_record(stub, loan, registration_ref, "top_up")
                extra["ever_pledged"] = True
                rules.set_status(extra, loan["status"])
                rules.put_receipt(tx, extra)
                loan["receipts"] = [*loan["receipts"], extra["receipt_id"]]
            loan_params = rules.policy_for(stub, int(loan["policy_version"]))
            _cure_if_below_call(tx, loan, loan_params)
            return "MarginToppedUp", loan

        return transact(stub, rules.CONTRACT, "TopUp", args, body)

    @submit
    def repay_and_release(self, stub: Stub, args: JsonObject) -> JsonObject:
        """W6. The pledgee bank records repayment `amount` (default: all
        outstanding) with `payment_ref`. Outstanding 0 → every receipt ACTIVE,
        pledge cleared, `deregistration_ref` stored. A partial repayment may
        release `release_receipt_ids` only if the remaining LTV ≤ ltv_max
        (LTV_EXCEEDED), and cures a margin call when LTV falls below call."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            loan = _bank_loan(tx, creator, args, *rules.ENCUMBERED)
            payment_ref = common.text(args, "payment_ref")
            paid = common.amount(args.get("amount", loan["outstanding"]), "amount")
            if paid > loan["outstanding"]:
                raise ChaincodeError("OVERPAYMENT", f"outstanding is {loan['outstanding']}")
            loan["outstanding"] -= paid
            loan["repayments"] = [
                *loan["repayments"],
                {"amount": paid, "payment_ref": payment_ref, "tx_id": stub.get_tx_id()},
            ]
            release = args.get("release_receipt_ids", [])
            if loan["outstanding"] == 0:
                release = list(loan["receipts"])
            elif not isinstance(release, list) or not set(release) <= set(loan["receipts"]):
                raise ChaincodeError("BAD_ARGUMENT", "release_receipt_ids must be loan receipts")
            elif release and loan["status"] not in (rules.PLEDGED, rules.MARGIN_CALL):
                raise ChaincodeError("INVALID_STATE", f"no partial release while {loan['status']}")
            deregistration_ref = args.get("deregistration_ref", payment_ref)
            for receipt_id in release:
                receipt = rules.load_receipt(tx, receipt_id)
                receipt["pledge"]["deregistration_ref"] = deregistration_ref
                rules.clear_pledge(receipt, "RELEASED", stub.get_tx_id())
                rules.set_status(receipt, rules.ACTIVE)
                rules.put_receipt(tx, receipt)
            loan["receipts"] = [r for r in loan["receipts"] if r not in release]
            loan["released_receipts"] = [*loan["released_receipts"], *release]
            if loan["outstanding"] == 0:
                _apply_loan_status(tx, loan, rules.RELEASED)
                return "PledgeReleased", loan
            params = rules.policy_for(stub, int(loan["policy_version"]))
            exposure, value = _ltv_snapshot(tx, loan)
            if release and (
                not loan["receipts"] or not _within(exposure, value, loan["ltv_max_bps"])
            ):
                raise ChaincodeError(
                    "LTV_EXCEEDED",
                    f"releasing {release} would leave LTV above {loan['ltv_max_bps']}",
                )
            if loan["status"] in (rules.PLEDGED, rules.MARGIN_CALL):
                _cure_if_below_call(tx, loan, params)
            rules.put_loan(tx, loan)
            return "LoanRepaid", loan

        return transact(stub, rules.CONTRACT, "RepayAndRelease", args, body)

    @submit
    def declare_default(self, stub: Stub, args: JsonObject) -> JsonObject:
        """W7. The pledgee bank declares loan `loan_id` in default → LIQUIDATING,
        on any of: already DEFAULTED by valuation, margin call past its due date,
        loan past maturity with outstanding > 0, LTV ≥ liquidate. Otherwise
        NOT_IN_DEFAULT."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            loan = _bank_loan(tx, creator, args, rules.PLEDGED, rules.MARGIN_CALL, rules.DEFAULTED)
            params = rules.policy_for(stub, int(loan["policy_version"]))
            today = common.tx_date(stub)
            grounds = list(loan["default_grounds"]) if loan["status"] == rules.DEFAULTED else []
            due = loan["margin_call_due"]
            if loan["status"] == rules.MARGIN_CALL and due and today > dt.date.fromisoformat(due):
                grounds.append("MARGIN_CALL_UNCURED")
            if loan["outstanding"] > 0 and today > dt.date.fromisoformat(loan["maturity_date"]):
                grounds.append("LOAN_OVERDUE")
            exposure, value = _ltv_snapshot(tx, loan)
            if rules.ltv_at_least(exposure, value, int(params["ltv_liquidate_bps"])):
                grounds.append("LTV_LIQUIDATE")
            if not grounds:
                raise ChaincodeError("NOT_IN_DEFAULT", f"loan {loan['loan_id']} is not in default")
            loan["default_grounds"] = sorted(set(grounds))
            _apply_loan_status(tx, loan, rules.DEFAULTED)
            _apply_loan_status(tx, loan, rules.LIQUIDATING)
            return "LoanDefaulted", loan

        return transact(stub, rules.CONTRACT, "DeclareDefault", args, body)

    @submit
    def transfer_to_pledgee(self, stub: Stub, args: JsonObject) -> JsonObject:
        """W8. LIQUIDATING loan → each receipt: holder = bank, pledge cleared,
        ACTIVE (unencumbered); the loan is TRANSFERRED (any deficiency is
        recovered off-chain)."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            loan = _bank_loan(tx, creator, args, rules.LIQUIDATING)
            for receipt_id in loan["receipts"]:
                receipt = rules.load_receipt(tx, receipt_id)
                rules.clear_pledge(receipt, "TRANSFERRED_TO_PLEDGEE", stub.get_tx_id())
                receipt["holder"] = loan["bank"]
                receipt["pending_outbound"] = None
                receipt["pending_endorsement"] = None
                rules.set_status(receipt, rules.ACTIVE)
                rules.put_receipt(tx, receipt)
                tx.note(rules.receipt_key(receipt_id), holder=loan["bank"])
            loan["released_receipts"] = [*loan["released_receipts"], *loan["receipts"]]
            transferred = list(loan["receipts"])
            loan["receipts"] = []  # before the status change: receipts stay ACTIVE
            _apply_loan_status(tx, loan, rules.TRANSFERRED)
            return "ReceiptsTransferredToPledgee", {**loan, "transferred": transferred}

        return transact(stub, rules.CONTRACT, "TransferToPledgee", args, body)

    @submit
    def consent_outbound(self, stub: Stub, args: JsonObject) -> JsonObject:
        """The pledgee bank co-signs the release of up to `quantity` of a pledged
        receipt (W9); consumed by `Outbound`."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            receipt = rules.load_receipt(tx, common.text(args, "receipt_id"))
            pledge = receipt["pledge"]
            if pledge is None:
                raise ChaincodeError(
                    "NOT_PLEDGED", f"receipt {receipt['receipt_id']} is not pledged"
                )
            if pledge["pledgee_bank"] != creator.mspid:
                raise ChaincodeError("NOT_PLEDGEE", f"{creator.mspid} is not the pledgee")
            quantity = integer(
                args.get("quantity"), "quantity", minimum=1, maximum=receipt["goods"]["quantity"]
            )
            receipt["outbound_consent"] = {
                "bank": creator.mspid,
                "quantity": quantity,
                "ts": stub.get_tx_timestamp().seconds,
            }
            rules.put_receipt(tx, receipt)
            return "OutboundConsented", receipt

        return transact(stub, rules.CONTRACT, "ConsentOutbound", args, body)

    @submit
    def record_pledge_attempt(self, stub: Stub, args: JsonObject) -> JsonObject:
        """DOMAIN §4.5 item 7: a rejected pledge attempt, recorded by the party
        that saw it (client gateway, holder or bank) because Fabric discards
        failed transactions. `receipt_id` (need not exist: forged receipts),
        `bank`, `error_code`, optional `loan_id`, `principal`, `registration_ref`."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            receipt_id = common.text(args, "receipt_id")
            record = {
                "receipt_id": receipt_id,
                "bank": common.text(args, "bank"),
                "error_code": common.text(args, "error_code"),
                "loan_id": args.get("loan_id"),
                "principal": rules.optional_int(args, "principal"),
                "registration_ref": args.get("registration_ref"),
                "reported_by": creator.mspid,
                "tx_id": stub.get_tx_id(),
                "ts": stub.get_tx_timestamp().seconds,
            }
            tx.put(key("wr_pledge_attempt", receipt_id, stub.get_tx_id()), record)
            return "PledgeAttemptRejected", record

        return transact(stub, rules.CONTRACT, "RecordPledgeAttempt", args, body)

    @evaluate
    def get_loan(self, stub: Stub, args: JsonObject) -> JsonObject:
        """A receipt loan `{bank, loan_id}`: for the bank, the borrower and the regulator."""
        tx = TxState(stub)
        loan = rules.load_loan(tx, common.text(args, "bank"), common.text(args, "loan_id"))
        caller = stub.get_creator().mspid
        if (
            caller not in (loan["bank"], loan["borrower"])
            and common.kind_of(stub, caller) != "regulator"
        ):
            raise ChaincodeError("NOT_AUTHORIZED", f"{caller} is not a party to this loan")
        _ltv_snapshot(tx, loan)
        return loan

    @evaluate
    def pledge_attempts(self, stub: Stub, args: JsonObject) -> list[JsonObject]:
        """Recorded rejected pledge attempts (regulator only), optionally for one `receipt_id`."""
        caller = stub.get_creator().mspid
        if common.kind_of(stub, caller) != "regulator":
            raise ChaincodeError("NOT_AUTHORIZED", "pledge attempts are for the regulator")
        receipt_id = args.get("receipt_id")
        parts = [common.text(args, "receipt_id")] if receipt_id is not None else []
        return [record for _, record in TxState(stub).scan("wr_pledge_attempt", *parts)]


def _within(exposure: int, value: int, cap_bps: int) -> bool:
    """LTV ≤ cap, exactly."""
    return exposure * rules.BPS <= cap_bps * value if value > 0 else exposure == 0


def _revalue_loan(tx: TxState, loan: JsonObject) -> str:
    """W4 thresholds for a loan after one of its receipts was revalued; returns
    the event type. Only PLEDGED and MARGIN_CALL loans move."""
    stub = tx.stub
    params = rules.policy_for(stub, int(loan["policy_version"]))
    exposure, value = _ltv_snapshot(tx, loan)
    loan_k = rules.loan_key(loan["bank"], loan["loan_id"])
    tx.note(loan_k, ltv_bps=loan["ltv_bps"], value=value, exposure=exposure)
    if loan["status"] not in (rules.PLEDGED, rules.MARGIN_CALL):
        rules.put_loan(tx, loan)
        return "ValuationUpdated"
    if rules.ltv_at_least(exposure, value, int(params["ltv_liquidate_bps"])):
        loan["default_grounds"] = ["LTV_LIQUIDATE"]
        loan["margin_call_due"] = None
        _apply_loan_status(tx, loan, rules.DEFAULTED)
        tx.note(loan_k, status=rules.DEFAULTED)
        return "LoanDefaulted"
    if rules.ltv_at_least(exposure, value, int(params["ltv_call_bps"])):
        if loan["status"] == rules.PLEDGED:
            due = common.tx_date(stub) + dt.timedelta(days=int(params["cure_days"]))
            loan["margin_call_due"] = due.isoformat()
            _apply_loan_status(tx, loan, rules.MARGIN_CALL)
        rules.put_loan(tx, loan)
        tx.note(loan_k, status=rules.MARGIN_CALL, due=loan["margin_call_due"])
        return "MarginCall"
    _cure_if_below_call(tx, loan, params)
    if rules.ltv_at_least(exposure, value, int(params["ltv_warn_bps"])):
        tx.note(loan_k, warning=True)
        return "LtvWarning"
    return "ValuationUpdated"
