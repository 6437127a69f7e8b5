"""Electronic warehouse receipts (电子仓单): issue, endorse, outbound, cancel,
inventory attestation and queries (DOMAIN §4, W1, W2, W9–W11). Pledge financing
(W3–W8) lives in `warehouse_pledge` and is mixed into the same chaincode.

Records (composite keys):

* `site~{warehouse_id}`: the registered operator of a site, its country and the
  overseas flag. Only the operator issues, attests, co-signs and releases there.
* `stock~{warehouse_id}~{sku}`: last attestation, `book_quantity` (attested less
  outbound since), `live_quantity` and `live_receipts` (receipts not REDEEMED
  or CANCELLED, FROZEN included), `shortfall`.
* `receipt~{receipt_id}`, id `{warehouse_id}-{yyyymmdd}-{seq}` (DOMAIN §4.2).
* `lot~{warehouse_id}~{lot_id}` → the one live receipt on that lot.

Invariants after every committed transaction:

* I-W1 each lot key names exactly one live receipt, and each live receipt's
  lots all point back to it;
* I-W2 per site+SKU, `live_quantity` = Σ quantity of live receipts ≤
  `book_quantity` ≤ last attested quantity, unless a shortfall has frozen
  every live receipt there (`shortfall` is then true);
* I-W3 a receipt carries at most one pledge, and only in PLEDGED, MARGIN_CALL,
  DEFAULTED or LIQUIDATING (possibly under a freeze).

Co-signatures are two committed steps, each signed by its own caller:
`EndorseReceipt` (holder instructs) then `ConfirmEndorsement` (warehouse
co-signs, Civil Code Art. 910); `InstructOutbound` (holder, plus
`ConsentOutbound` by the pledgee bank first when pledged) then `Outbound`
(warehouse executes).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from chaincode.contract import Contract, JsonObject, evaluate, submit
from chaincode.contracts import common
from chaincode.contracts import warehouse_rules as rules
from chaincode.contracts.warehouse_pledge import PledgeFunctions
from chaincode.contracts.warehouse_state import (
    TxState,
    integer,
    key,
    known_party,
    require_obj,
    transact,
)
from chaincode.errors import ChaincodeError
from chaincode.stub import Creator, Stub

ATTESTATION_METHODS = frozenset({"IOT", "STOCKTAKE", "CCTV"})
STOCK_SHORTFALL = "STOCK_SHORTFALL"


def _site_of_operator(tx: TxState, creator: Creator, warehouse_id: str) -> JsonObject:
    """The site record; NOT_SITE_OPERATOR unless the caller's org operates it."""
    site = tx.get(rules.site_key(warehouse_id))
    if site is None:
        raise ChaincodeError("SITE_NOT_FOUND", f"warehouse site {warehouse_id!r} is not registered")
    if site["operator"] != creator.mspid:
        raise ChaincodeError(
            "NOT_SITE_OPERATOR", f"{creator.mspid} does not operate site {warehouse_id}"
        )
    return site


def _require_holder(receipt: JsonObject, creator: Creator) -> None:
    if receipt["holder"] != creator.mspid:
        raise ChaincodeError(
            "NOT_HOLDER", f"{creator.mspid} does not hold receipt {receipt['receipt_id']}"
        )


def _require_live_unfrozen(receipt: JsonObject) -> None:
    if receipt["status"] in rules.TERMINAL:
        raise ChaincodeError(
            "RECEIPT_CLOSED", f"receipt {receipt['receipt_id']} is {receipt['status']}"
        )
    if receipt["status"] == rules.FROZEN:
        raise ChaincodeError(
            "RECEIPT_FROZEN",
            f"receipt {receipt['receipt_id']} is frozen ({receipt['frozen']['reason']})",
        )


def _close_receipt(tx: TxState, receipt: JsonObject, status: str) -> None:
    """REDEEMED or CANCELLED: free the lots and drop it from its stock line."""
    receipt["status"] = status
    for lot_id in receipt["goods"]["lot_ids"]:
        tx.delete(rules.lot_key(receipt["warehouse_id"], lot_id))
    stock_k = rules.stock_key(receipt["warehouse_id"], receipt["goods"]["sku"])
    stock = tx.get(stock_k)
    assert stock is not None  # a live receipt always has its stock line
    stock["live_receipts"] = [r for r in stock["live_receipts"] if r != receipt["receipt_id"]]
    stock["live_quantity"] -= int(receipt["goods"]["quantity"])
    tx.put(stock_k, stock)


def _goods(raw: JsonObject) -> JsonObject:
    sku = common.text(raw, "sku")
    lot_ids = raw.get("lot_ids")
    if (
        not isinstance(lot_ids, list)
        or not lot_ids
        or not all(isinstance(lot, str) and lot for lot in lot_ids)
    ):
        raise ChaincodeError("BAD_ARGUMENT", "goods.lot_ids must be a non-empty list of strings")
    if len(set(lot_ids)) != len(lot_ids):
        raise ChaincodeError("BAD_ARGUMENT", "goods.lot_ids has duplicates")
    return {
        "sku": sku,
        "description": common.text(raw, "description"),
        "quality_grade": common.text(raw, "quality_grade"),
        "unit": common.text(raw, "unit"),
        "quantity": integer(raw.get("quantity"), "goods.quantity", minimum=1),
        "packing": common.text(raw, "packing", required=False),
        "pieces": integer(raw.get("pieces", 0), "goods.pieces"),
        "marks": common.text(raw, "marks", required=False),
        "lot_ids": list(lot_ids),
    }


def _insurance(raw: JsonObject | None, required: bool) -> JsonObject | None:
    if raw is None:
        if required:
            raise ChaincodeError("INSURANCE_REQUIRED", "the receipt must carry insurance")
        return None
    insured_value = integer(raw.get("insured_value"), "insurance.insured_value")
    if required and insured_value <= 0:
        raise ChaincodeError("INSURANCE_REQUIRED", "insurance.insured_value must be > 0")
    return {
        "insurer": common.text(raw, "insurer"),
        "insured_value": insured_value,
        "currency": common.currency(raw.get("currency"), "insurance.currency"),
        "period_end": common.parse_date(raw.get("period_end"), "insurance.period_end").isoformat(),
    }


class WarehouseContract(PledgeFunctions, Contract):
    """Chaincode `warehouse`: the receipt registry and pledge financing."""

    name: ClassVar[str] = rules.CONTRACT

    # --- sites and stock ------------------------------------------------------------

    @submit
    def register_site(self, stub: Stub, args: JsonObject) -> JsonObject:
        """A warehouse org registers a site it operates: `warehouse_id`,
        `country` (ISO-3166 alpha-2), `is_overseas`, `location`.
        The first registrant is the operator for good (SITE_EXISTS after)."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            common.require_kind(stub, creator, "warehouse")
            warehouse_id = common.text(args, "warehouse_id")
            if "-" in warehouse_id:
                raise ChaincodeError("BAD_ARGUMENT", "warehouse_id may not contain '-'")
            if tx.get(rules.site_key(warehouse_id)) is not None:
                raise ChaincodeError("SITE_EXISTS", f"site {warehouse_id!r} is registered")
            country = common.text(args, "country")
            is_overseas = args.get("is_overseas", False)
            if len(country) != 2 or not country.isupper() or not isinstance(is_overseas, bool):
                raise ChaincodeError(
                    "BAD_ARGUMENT", "country must be ISO-3166 alpha-2, is_overseas a boolean"
                )
            site = {
                "warehouse_id": warehouse_id,
                "operator": creator.mspid,
                "country": country,
                "is_overseas": is_overseas,
                "location": common.text(args, "location"),
            }
            tx.put(rules.site_key(warehouse_id), site)
            return "SiteRegistered", site

        return transact(stub, rules.CONTRACT, "RegisterSite", args, body)

    @submit
    def attest_inventory(self, stub: Stub, args: JsonObject) -> JsonObject:
        """W11. The site operator attests the stock of one SKU: `warehouse_id`,
        `sku`, `unit`, `quantity`, `method` (IOT / STOCKTAKE / CCTV).

        Below Σ live receipt quantity: every live receipt there is FROZEN
        (STOCK_SHORTFALL), a `StockShortfall` event goes out, and no pledge or
        issue is possible there until a later attestation covers the receipts
        again, which unfreezes them to their previous status."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            warehouse_id = common.text(args, "warehouse_id")
            _site_of_operator(tx, creator, warehouse_id)
            sku = common.text(args, "sku")
            unit = common.text(args, "unit")
            quantity = integer(args.get("quantity"), "quantity")
            method = common.text(args, "method")
            if method not in ATTESTATION_METHODS:
                raise ChaincodeError(
                    "BAD_ARGUMENT", f"method must be one of {sorted(ATTESTATION_METHODS)}"
                )
            stock_k = rules.stock_key(warehouse_id, sku)
            stock = tx.get(stock_k) or {
                "warehouse_id": warehouse_id,
                "sku": sku,
                "unit": unit,
                "live_quantity": 0,
                "live_receipts": [],
                "shortfall": False,
            }
            if stock["unit"] != unit:
                raise ChaincodeError(
                    "UNIT_MISMATCH", f"{sku} at {warehouse_id} is kept in {stock['unit']}"
                )
            attestation = {
                "ts": stub.get_tx_timestamp().seconds,
                "attested_quantity": quantity,
                "method": method,
                "attestor": f"{creator.mspid}/{creator.enrollment_id}",
            }
            stock["last_attestation"] = attestation
            stock["attested_quantity"] = quantity
            stock["book_quantity"] = quantity
            affected: list[str] = []
            event = "InventoryAttested"
            tx.put(stock_k, stock)  # first, so the event leads with the stock line
            if quantity < stock["live_quantity"]:
                event = "StockShortfall"
                stock["shortfall"] = True
                for receipt_id in stock["live_receipts"]:
                    receipt = rules.load_receipt(tx, receipt_id)
                    if receipt["status"] != rules.FROZEN:
                        receipt["frozen"] = {
                            "reason": STOCK_SHORTFALL,
                            "previous_status": receipt["status"],
                            "ts": attestation["ts"],
                        }
                        receipt["status"] = rules.FROZEN
                        rules.put_receipt(tx, receipt)
                        affected.append(receipt_id)
                tx.note(stock_k, shortfall=stock["live_quantity"] - quantity, frozen=affected)
            elif stock["shortfall"]:
                stock["shortfall"] = False
                for receipt_id in stock["live_receipts"]:
                    receipt = rules.load_receipt(tx, receipt_id)
                    frozen = receipt.get("frozen")
                    if frozen and frozen["reason"] == STOCK_SHORTFALL:
                        receipt["status"] = frozen["previous_status"]
                        receipt["frozen"] = None
                        rules.put_receipt(tx, receipt)
                        affected.append(receipt_id)
                tx.note(stock_k, unfrozen=affected)
            tx.put(stock_k, stock)
            return event, {"stock": stock, "affected_receipts": affected}

        return transact(stub, rules.CONTRACT, "AttestInventory", args, body)

    # --- issue, endorse, cancel -----------------------------------------------------

    @submit
    def issue_receipt(self, stub: Stub, args: JsonObject) -> JsonObject:
        """W1. The site operator issues a receipt → ACTIVE, holder = depositor.

        Args: `warehouse_id`, `depositor`, `goods {sku, description,
        quality_grade, unit, quantity, packing, pieces, marks, lot_ids[]}`,
        `loss_standard_ppm`, `storage_start`, `storage_end`, `storage_fee
        {amount, currency}`, `insurance {insurer, insured_value, currency,
        period_end}` (required when `require_insurance` and always overseas),
        optional `shelf_life_end`. Rejections: LOT_ALREADY_RECEIPTED (a lot is on
        a live receipt), STOCK_NOT_ATTESTED, STOCK_EXCEEDED (Σ live + quantity >
        attested stock less outbound), UNIT_MISMATCH, INSURANCE_REQUIRED."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            warehouse_id = common.text(args, "warehouse_id")
            site = _site_of_operator(tx, creator, warehouse_id)
            depositor = known_party(stub, common.text(args, "depositor"), "depositor")
            goods = _goods(require_obj(args, "goods"))
            version, params = common.current_policy(stub)
            insurance = _insurance(
                rules.optional_obj(args, "insurance"),
                bool(params.get("require_insurance", True)) or bool(site["is_overseas"]),
            )
            fee = require_obj(args, "storage_fee")
            storage_start = common.parse_date(args.get("storage_start"), "storage_start")
            storage_end = common.parse_date(args.get("storage_end"), "storage_end")
            if storage_end < storage_start:
                raise ChaincodeError("BAD_ARGUMENT", "storage_end is before storage_start")
            shelf_life_end = args.get("shelf_life_end")
            for lot_id in goods["lot_ids"]:
                holder_of_lot = tx.get(rules.lot_key(warehouse_id, lot_id))
                if holder_of_lot is not None:
                    raise ChaincodeError(
                        "LOT_ALREADY_RECEIPTED",
                        f"lot {lot_id} at {warehouse_id} is on live receipt "
                        f"{holder_of_lot['receipt_id']}",
                    )
            stock_k = rules.stock_key(warehouse_id, goods["sku"])
            stock = tx.get(stock_k)
            if stock is None or "last_attestation" not in stock:
                raise ChaincodeError(
                    "STOCK_NOT_ATTESTED", f"no attested stock of {goods['sku']} at {warehouse_id}"
                )
            if stock["unit"] != goods["unit"]:
                raise ChaincodeError("UNIT_MISMATCH", f"{goods['sku']} is kept in {stock['unit']}")
            if stock["live_quantity"] + goods["quantity"] > stock["book_quantity"]:
                raise ChaincodeError(
                    "STOCK_EXCEEDED",
                    f"live receipts {stock['live_quantity']} + {goods['quantity']} would exceed "
                    f"the attested stock {stock['book_quantity']} of {goods['sku']}",
                )
            today = common.tx_date(stub).strftime("%Y%m%d")
            seq_k = key("receipt_seq", warehouse_id, today)
            seq = (tx.get(seq_k) or {"next": 1})["next"]
            tx.put(seq_k, {"next": seq + 1})
            receipt_id = f"{warehouse_id}-{today}-{seq:04d}"
            receipt: JsonObject = {
                "receipt_id": receipt_id,
                "issuer": creator.mspid,
                "warehouse_id": warehouse_id,
                "location": site["location"],
                "country": site["country"],
                "is_overseas": site["is_overseas"],
                "depositor": depositor,
                "holder": depositor,
                "goods": goods,
                "loss_standard_ppm": integer(args.get("loss_standard_ppm", 0), "loss_standard_ppm"),
                "storage_start": storage_start.isoformat(),
                "storage_end": storage_end.isoformat(),
                "storage_fee": {
                    "amount": integer(fee.get("amount"), "storage_fee.amount"),
                    "currency": common.currency(fee.get("currency"), "storage_fee.currency"),
                },
                "insurance": insurance,
                "shelf_life_end": None
                if shelf_life_end is None
                else common.parse_date(shelf_life_end, "shelf_life_end").isoformat(),
                "last_attestation": stock["last_attestation"],
                "status": rules.ACTIVE,
                "frozen": None,
                "pledge": None,
                "valuation": None,
                "policy_version": version,
                "issued_at": stub.get_tx_timestamp().seconds,
                "quantity_version": 1,
                "ever_pledged": False,
                "ever_endorsed": False,
                "endorsements": [],
                "pledge_history": [],
                "pending_endorsement": None,
                "pending_outbound": None,
                "outbound_consent": None,
            }
            for lot_id in goods["lot_ids"]:
                tx.put(rules.lot_key(warehouse_id, lot_id), {"receipt_id": receipt_id})
            stock["live_quantity"] += goods["quantity"]
            stock["live_receipts"] = [*stock["live_receipts"], receipt_id]
            tx.put(stock_k, stock)
            rules.put_receipt(tx, receipt)
            tx.note(rules.receipt_key(receipt_id), status=rules.ACTIVE)
            return "ReceiptIssued", receipt

        return transact(stub, rules.CONTRACT, "IssueReceipt", args, body)

    @submit
    def endorse_receipt(self, stub: Stub, args: JsonObject) -> JsonObject:
        """W2 step 1. The holder instructs an endorsement to `to`. The receipt must
        be ACTIVE, unpledged, not frozen. Takes effect on `ConfirmEndorsement`;
        a new instruction replaces a pending one."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            receipt = rules.load_receipt(tx, common.text(args, "receipt_id"))
            _require_holder(receipt, creator)
            _require_live_unfrozen(receipt)
            if receipt["pledge"] is not None:
                raise ChaincodeError("ALREADY_PLEDGED", "a pledged receipt cannot be endorsed")
            if receipt["status"] != rules.ACTIVE:
                raise ChaincodeError("INVALID_STATE", f"receipt is {receipt['status']}")
            to = known_party(stub, common.text(args, "to"), "to")
            if to == receipt["holder"]:
                raise ChaincodeError("BAD_ARGUMENT", "cannot endorse to the current holder")
            receipt["pending_endorsement"] = {
                "from": receipt["holder"],
                "to": to,
                "ts": stub.get_tx_timestamp().seconds,
                "tx_id": stub.get_tx_id(),
            }
            rules.put_receipt(tx, receipt)
            return "EndorsementInstructed", receipt

        return transact(stub, rules.CONTRACT, "EndorseReceipt", args, body)

    @submit
    def confirm_endorsement(self, stub: Stub, args: JsonObject) -> JsonObject:
        """W2 step 2. The site operator co-signs the pending endorsement to `to`
        (must match the instruction) → holder = `to`; a pending outbound
        instruction of the former holder is dropped."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            receipt = rules.load_receipt(tx, common.text(args, "receipt_id"))
            _site_of_operator(tx, creator, receipt["warehouse_id"])
            pending = receipt["pending_endorsement"]
            if pending is None or pending["to"] != common.text(args, "to"):
                raise ChaincodeError("ENDORSEMENT_NOT_INSTRUCTED", "no matching instruction")
            _require_live_unfrozen(receipt)
            if receipt["pledge"] is not None or receipt["status"] != rules.ACTIVE:
                raise ChaincodeError("INVALID_STATE", f"receipt is {receipt['status']}")
            receipt["endorsements"] = [
                *receipt["endorsements"],
                {**pending, "confirmed_tx_id": stub.get_tx_id()},
            ]
            receipt["holder"] = pending["to"]
            receipt["ever_endorsed"] = True
            receipt["pending_endorsement"] = None
            receipt["pending_outbound"] = None
            rules.put_receipt(tx, receipt)
            tx.note(rules.receipt_key(receipt["receipt_id"]), holder=receipt["holder"])
            return "ReceiptEndorsed", receipt

        return transact(stub, rules.CONTRACT, "ConfirmEndorsement", args, body)

    @submit
    def cancel_receipt(self, stub: Stub, args: JsonObject) -> JsonObject:
        """W10. The site operator cancels an issuing error: only ACTIVE, never
        pledged, never endorsed (NOT_CANCELLABLE). `reason` required."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            receipt = rules.load_receipt(tx, common.text(args, "receipt_id"))
            _site_of_operator(tx, creator, receipt["warehouse_id"])
            reason = common.text(args, "reason")
            if (
                receipt["status"] != rules.ACTIVE
                or receipt["ever_pledged"]
                or receipt["ever_endorsed"]
            ):
                raise ChaincodeError(
                    "NOT_CANCELLABLE",
                    "only an ACTIVE receipt that was never pledged or endorsed can be cancelled",
                )
            _close_receipt(tx, receipt, rules.CANCELLED)
            receipt["cancel_reason"] = reason
            rules.put_receipt(tx, receipt)
            return "ReceiptCancelled", receipt

        return transact(stub, rules.CONTRACT, "CancelReceipt", args, body)

    # --- outbound -------------------------------------------------------------------

    @submit
    def instruct_outbound(self, stub: Stub, args: JsonObject) -> JsonObject:
        """W9 step 1. The holder instructs the release of `quantity` (1..held).
        A pledged receipt needs the pledgee's `ConsentOutbound` covering the
        quantity first, else PLEDGED_GOODS_LOCKED."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            receipt = rules.load_receipt(tx, common.text(args, "receipt_id"))
            _require_holder(receipt, creator)
            _require_live_unfrozen(receipt)
            quantity = integer(
                args.get("quantity"), "quantity", minimum=1, maximum=receipt["goods"]["quantity"]
            )
            _require_release_allowed(receipt, quantity)
            if receipt["pending_endorsement"] is not None:
                raise ChaincodeError("ENDORSEMENT_PENDING", "an endorsement is pending")
            receipt["pending_outbound"] = {
                "quantity": quantity,
                "instructed_by": creator.mspid,
                "ts": stub.get_tx_timestamp().seconds,
                "tx_id": stub.get_tx_id(),
            }
            rules.put_receipt(tx, receipt)
            return "OutboundInstructed", receipt

        return transact(stub, rules.CONTRACT, "InstructOutbound", args, body)

    @submit
    def outbound(self, stub: Stub, args: JsonObject) -> JsonObject:
        """W9 step 2. The site operator releases the instructed `quantity`: the
        receipt's quantity drops (quantity_version + 1), the site's book stock
        and live quantity drop; at zero → REDEEMED and the lots are freed."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            receipt = rules.load_receipt(tx, common.text(args, "receipt_id"))
            _site_of_operator(tx, creator, receipt["warehouse_id"])
            _require_live_unfrozen(receipt)
            quantity = integer(args.get("quantity"), "quantity", minimum=1)
            pending = receipt["pending_outbound"]
            if pending is None or pending["quantity"] != quantity:
                raise ChaincodeError("OUTBOUND_NOT_INSTRUCTED", "no matching holder instruction")
            _require_release_allowed(receipt, quantity)
            if receipt["outbound_consent"] is not None:
                left = receipt["outbound_consent"]["quantity"] - quantity
                receipt["outbound_consent"] = (
                    {**receipt["outbound_consent"], "quantity": left} if left > 0 else None
                )
            receipt["pending_outbound"] = None
            receipt["goods"]["quantity"] -= quantity
            receipt["quantity_version"] += 1
            stock_k = rules.stock_key(receipt["warehouse_id"], receipt["goods"]["sku"])
            stock = tx.get(stock_k)
            assert stock is not None  # I-W2: a live receipt has its stock line
            stock["book_quantity"] -= quantity
            stock["live_quantity"] -= quantity
            tx.put(stock_k, stock)
            event = "GoodsOutbound"
            if receipt["goods"]["quantity"] == 0:
                _close_receipt(tx, receipt, rules.REDEEMED)
                if receipt["pledge"] is not None:
                    _drop_from_loan(tx, receipt)
                event = "ReceiptRedeemed"
            rules.put_receipt(tx, receipt)
            tx.note(rules.receipt_key(receipt["receipt_id"]), outbound=quantity)
            return event, receipt

        return transact(stub, rules.CONTRACT, "Outbound", args, body)

    # --- queries --------------------------------------------------------------------

    @evaluate
    def get_receipt(self, stub: Stub, args: JsonObject) -> JsonObject:
        """A receipt (the registry is open to every member, so banks can check
        encumbrances) with its site+SKU's latest attestation and current value."""
        tx = TxState(stub)
        receipt = rules.load_receipt(tx, common.text(args, "receipt_id"))
        stock = tx.get(rules.stock_key(receipt["warehouse_id"], receipt["goods"]["sku"]))
        if stock is not None:
            receipt["last_attestation"] = stock.get("last_attestation")
        receipt["collateral_value"] = rules.collateral_value(receipt)
        return receipt

    @evaluate
    def receipt_history(self, stub: Stub, args: JsonObject) -> list[JsonObject]:
        """Every committed version of a receipt, oldest first."""
        raw_key = rules.receipt_key(common.text(args, "receipt_id"))
        history: list[JsonObject] = []
        for modification in stub.get_history_for_key(raw_key):
            history.append(
                {
                    "tx_id": modification.tx_id,
                    "ts": modification.timestamp.seconds,
                    "is_delete": modification.is_delete,
                    "value": None if modification.is_delete else _json(modification.value),
                }
            )
        return history

    @evaluate
    def receipts_of(self, stub: Stub, args: JsonObject) -> list[JsonObject]:
        """Receipts `org` holds, deposited, issued or lends against. Only that
        org itself or the regulator may ask (NOT_AUTHORIZED)."""
        org = common.text(args, "org")
        creator = stub.get_creator()
        if creator.mspid != org and common.kind_of(stub, creator.mspid) != "regulator":
            raise ChaincodeError("NOT_AUTHORIZED", f"{creator.mspid} may not list {org}'s receipts")
        found: list[JsonObject] = []
        for _, receipt in TxState(stub).scan("receipt"):
            pledgee = (receipt.get("pledge") or {}).get("pledgee_bank")
            if org in (receipt["holder"], receipt["depositor"], receipt["issuer"], pledgee):
                found.append(receipt)
        return found

    @evaluate
    def get_stock(self, stub: Stub, args: JsonObject) -> JsonObject:
        """The stock line of a site+SKU (attestation, book and live quantities)."""
        warehouse_id, sku = common.text(args, "warehouse_id"), common.text(args, "sku")
        stock = TxState(stub).get(rules.stock_key(warehouse_id, sku))
        if stock is None:
            raise ChaincodeError("STOCK_NOT_ATTESTED", f"no stock line {warehouse_id}/{sku}")
        return stock


def _require_release_allowed(receipt: JsonObject, quantity: int) -> None:
    """Goods under a pledge leave only with the pledgee's consent covering
    `quantity` (DOMAIN §4.5 item 2)."""
    if receipt["pledge"] is None:
        return
    consent = receipt["outbound_consent"]
    if consent is None or consent["quantity"] < quantity:
        raise ChaincodeError(
            "PLEDGED_GOODS_LOCKED",
            f"receipt {receipt['receipt_id']} is pledged to {receipt['pledge']['pledgee_bank']}; "
            "outbound needs the pledgee's consent",
        )


def _drop_from_loan(tx: TxState, receipt: JsonObject) -> None:
    """A pledged receipt fully released with the bank's consent leaves its loan."""
    pledge = receipt["pledge"]
    loan = rules.load_loan(tx, pledge["pledgee_bank"], pledge["loan_id"])
    loan["receipts"] = [r for r in loan["receipts"] if r != receipt["receipt_id"]]
    rules.put_loan(tx, loan)
    rules.clear_pledge(receipt, "REDEEMED_WITH_CONSENT", tx.stub.get_tx_id())


def _json(raw: bytes) -> Any:
    return json.loads(raw)
