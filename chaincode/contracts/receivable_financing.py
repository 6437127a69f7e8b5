"""Voucher financing (保理, DOMAIN §2.4 T7–T9, §2.5): request, approve, reject,
withdraw, and the discount arithmetic.

A request freezes the leaf (`FINANCING_PENDING`): no transfer, split or second
request until the named bank approves or rejects it or the holder withdraws it.
Approval hands the leaf to the bank (`FINANCED`, holder = bank, one more hop).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from chaincode.contract import JsonObject, submit
from chaincode.contracts.common import amount, kind_of, parse_date, round_half_up, text, tx_date
from chaincode.contracts.receivable_model import (
    ACTIVE,
    FINANCED,
    FINANCING_PENDING,
    UnitOfWork,
    Voucher,
    invoice_key,
    registration_key,
)
from chaincode.contracts.receivable_rules import (
    check_hops,
    check_split,
    pinned_policy,
    require_leaf,
    require_not_matured,
    require_spendable,
    run_mutation,
    split_node,
)
from chaincode.errors import ChaincodeError
from chaincode.stub import Creator, Stub

MAX_RATE_BPS = 100_000
"""1000% a year: anything above is a typo, not a price."""


@dataclass(frozen=True)
class DiscountTerms:
    """The result of DOMAIN §2.5 for one financing; `net_proceeds > 0`."""

    days: int
    day_basis: int
    interest: int
    fees: int
    net_proceeds: int


def discount(
    face: int, rate_bps: int, financing_date: dt.date, maturity: dt.date, basis: int, fees: int
) -> DiscountTerms:
    """Discount a face amount from `financing_date` to `maturity`.

    days = maturity − financing_date (count the start day, not the end: 算头不算尾);
    interest = round_half_up(face × rate_bps × days / (10 000 × basis)), rounded
    once at the end; net = face − interest − fees. Preconditions: face > 0,
    rate_bps ≥ 0, fees ≥ 0, basis > 0. Raises BAD_FINANCING_TERMS when days ≤ 0 or
    net ≤ 0.
    """
    days = (maturity - financing_date).days
    if days <= 0:
        raise ChaincodeError("BAD_FINANCING_TERMS", "financing date must precede maturity")
    interest = round_half_up(face * rate_bps * days, 10_000 * basis)
    net = face - interest - fees
    if net <= 0:
        raise ChaincodeError(
            "BAD_FINANCING_TERMS",
            f"net proceeds {net} ≤ 0 (interest {interest}, fees {fees})",
        )
    return DiscountTerms(days, basis, interest, fees, net)


def check_trade_background(uow: UnitOfWork, voucher: Voucher) -> None:
    """DOMAIN §3.1 N8: a contract hash plus at least one invoice hash or delivery
    proof (TRADE_BACKGROUND_INVALID), and no invoice hash first claimed by another
    root (DUPLICATE_TRADE_DOC; the issuance of the duplicate already raised a
    `DuplicateTradeDoc` alert)."""
    underlying = voucher.underlying
    invoices = list(underlying.get("invoice_hashes") or [])
    if not underlying.get("contract_hash") or not (
        invoices or underlying.get("delivery_proof_hash")
    ):
        raise ChaincodeError(
            "TRADE_BACKGROUND_INVALID",
            f"{voucher.voucher_id} lacks a contract hash and an invoice or delivery proof",
        )
    for invoice_hash in invoices:
        raw = uow.get(invoice_key(invoice_hash))
        owner = None if raw is None else _json(raw).get("root_id")
        # An entry released by a cancelled/rejected first claimant is no conflict.
        if owner is not None and owner != voucher.root_id:
            raise ChaincodeError(
                "DUPLICATE_TRADE_DOC",
                f"invoice hash {invoice_hash[:12]}… is already used under root {owner}",
            )


def _json(raw: bytes) -> JsonObject:
    value: JsonObject = json.loads(raw)
    return value


def _pending(uow: UnitOfWork, args: JsonObject) -> Voucher:
    voucher = uow.voucher(text(args, "voucher_id"))
    require_leaf(voucher)
    if voucher.status != FINANCING_PENDING or voucher.financing_request is None:
        raise ChaincodeError(
            "INVALID_STATUS", f"{voucher.voucher_id} is {voucher.status}, not FINANCING_PENDING"
        )
    return voucher


def _unfreeze(uow: UnitOfWork, voucher: Voucher) -> JsonObject:
    uow.save_voucher(
        voucher.with_changes(status=ACTIVE, frozen_reason=None, financing_request=None)
    )
    return {"voucher_id": voucher.voucher_id, "status": ACTIVE}


class FinancingFunctions:
    """Mixed into `ReceivableContract`; each function's args are listed in its
    docstring; every mutating call also takes `request_id`."""

    @submit
    def request_financing(self, stub: Stub, args: JsonObject) -> Any:
        """`{voucher_id, financier, amount?}` by the holder → FINANCING_PENDING.

        `amount` < face splits first (children `[amount, rest]`) and freezes the
        first child. The financier may be any bank (no lock-in at issue, N3).
        """

        def body(uow: UnitOfWork, creator: Creator) -> JsonObject:
            voucher = uow.voucher(text(args, "voucher_id"))
            require_spendable(stub, voucher, creator)
            financier = text(args, "financier")
            if kind_of(stub, financier) != "bank":
                raise ChaincodeError("INVALID_FINANCIER", f"{financier} is not a bank")
            if voucher.issuer == creator.mspid:
                raise ChaincodeError("NOT_AUTHORIZED", "the issuer may not finance its own debt")
            policy = pinned_policy(stub, voucher)
            wanted = amount(args.get("amount", voucher.amount), "amount")
            if wanted > voucher.amount:
                raise ChaincodeError(
                    "INSUFFICIENT_AMOUNT", f"{voucher.voucher_id} holds {voucher.amount}"
                )
            check_hops(voucher, policy)
            today = tx_date(stub)
            min_days = int(policy.get("min_financing_days", 1))
            if (parse_date(voucher.maturity_date, "maturity_date") - today).days < min_days:
                raise ChaincodeError("MATURED", f"fewer than {min_days} days to maturity")
            check_trade_background(uow, voucher)
            if wanted < voucher.amount:
                parts = check_split(voucher, [wanted, voucher.amount - wanted], policy)
                voucher = split_node(uow, voucher, parts)[0]
            request = {
                "financier": financier,
                "applicant": creator.mspid,
                "requested_tx": stub.get_tx_id(),
                "requested_date": today.isoformat(),
            }
            uow.save_voucher(
                voucher.with_changes(
                    status=FINANCING_PENDING,
                    frozen_reason=FINANCING_PENDING,
                    financing_request=request,
                    parties=voucher.with_party(financier),
                )
            )
            return {"voucher_id": voucher.voucher_id, "status": FINANCING_PENDING, **request}

        return run_mutation(stub, args, "RequestFinancing", "FinancingRequested", body)

    @submit
    def approve_financing(self, stub: Stub, args: JsonObject) -> Any:
        """`{voucher_id, rate_bps, fees?, registration_ref?, term_review_ack?,
        term_review_reason?, recourse?, disbursement_ref?}` by the named bank.

        Interest per DOMAIN §2.5 with the currency's day basis (pinned policy).
        `registration_ref` is required when `require_registration` and may back
        only one financing. A tenor above `soft_tenor_days` needs
        `term_review_ack=true` and a reason; the event then carries a
        `LongTenorVoucher` alert. Effects: FINANCED, holder = bank, hops + 1.
        """

        def body(uow: UnitOfWork, creator: Creator) -> JsonObject:
            voucher = _pending(uow, args)
            request = voucher.financing_request or {}
            if creator.mspid != request.get("financier"):
                raise ChaincodeError(
                    "NOT_FINANCIER", f"{creator.mspid} is not the requested financier"
                )
            policy = pinned_policy(stub, voucher)
            today = tx_date(stub)
            require_not_matured(voucher, today)
            check_hops(voucher, policy)
            rate = amount(args.get("rate_bps"), "rate_bps", minimum=0)
            if rate > MAX_RATE_BPS:
                raise ChaincodeError("BAD_FINANCING_TERMS", f"rate_bps {rate} is implausible")
            fees = amount(args.get("fees", 0), "fees", minimum=0)
            registration_ref = args.get("registration_ref") or None
            if registration_ref is not None and not isinstance(registration_ref, str):
                raise ChaincodeError("BAD_ARGUMENT", "registration_ref must be a string")
            if policy["require_registration"] and not registration_ref:
                raise ChaincodeError(
                    "REGISTRATION_REQUIRED", "financing must be registered (77号 Art. 13)"
                )
            if registration_ref is not None:
                if uow.get(registration_key(registration_ref)) is not None:
                    raise ChaincodeError(
                        "DUPLICATE_REGISTRATION", f"{registration_ref} backs another financing"
                    )
                uow.put(
                    registration_key(registration_ref),
                    {"voucher_id": voucher.voucher_id, "financier": creator.mspid},
                    "Registration",
                )
            issue = parse_date(voucher.issue_date, "issue_date")
            maturity = parse_date(voucher.maturity_date, "maturity_date")
            review: JsonObject | None = None
            if (maturity - issue).days > int(policy["soft_tenor_days"]):
                reason = args.get("term_review_reason")
                if (
                    args.get("term_review_ack") is not True
                    or not isinstance(reason, str)
                    or not reason
                ):
                    raise ChaincodeError(
                        "TERM_REVIEW_REQUIRED",
                        f"tenor {(maturity - issue).days} days > {policy['soft_tenor_days']}: "
                        "term_review_ack=true and term_review_reason are required",
                    )
                review = {"ack": True, "reason": reason}
                uow.alert(
                    "LongTenorVoucher",
                    voucher_id=voucher.voucher_id,
                    tenor_days=(maturity - issue).days,
                    financier=creator.mspid,
                    reason=reason,
                )
            basis = int(dict(policy["day_basis"]).get(voucher.currency, 360))
            terms = discount(voucher.amount, rate, today, maturity, basis, fees)
            recourse = args.get("recourse", False)
            if not isinstance(recourse, bool):
                raise ChaincodeError("BAD_ARGUMENT", "recourse must be a boolean")
            financing = {
                "financier": creator.mspid,
                "applicant": request.get("applicant"),
                "financing_date": today.isoformat(),
                "rate_bps": rate,
                "day_basis": terms.day_basis,
                "days": terms.days,
                "interest": terms.interest,
                "fees": terms.fees,
                "net_proceeds": terms.net_proceeds,
                "registration_ref": registration_ref,
                "recourse": recourse,
                "disbursement_ref": args.get("disbursement_ref"),
                "term_review": review,
            }
            uow.save_voucher(
                voucher.with_changes(
                    status=FINANCED,
                    holder=creator.mspid,
                    transfer_hops=voucher.transfer_hops + 1,
                    frozen_reason=None,
                    financing_request=None,
                    financing=financing,
                    registration_ref=registration_ref,
                    parties=voucher.with_party(creator.mspid),
                )
            )
            return {"voucher_id": voucher.voucher_id, "status": FINANCED, **financing}

        return run_mutation(stub, args, "ApproveFinancing", "FinancingApproved", body)

    @submit
    def reject_financing(self, stub: Stub, args: JsonObject) -> Any:
        """`{voucher_id, reason?}` by the named bank → ACTIVE again."""

        def body(uow: UnitOfWork, creator: Creator) -> JsonObject:
            voucher = _pending(uow, args)
            if creator.mspid != (voucher.financing_request or {}).get("financier"):
                raise ChaincodeError(
                    "NOT_FINANCIER", f"{creator.mspid} is not the requested financier"
                )
            return _unfreeze(uow, voucher)

        return run_mutation(stub, args, "RejectFinancing", "FinancingRejected", body)

    @submit
    def withdraw_financing(self, stub: Stub, args: JsonObject) -> Any:
        """`{voucher_id}` by the applicant (still the holder) → ACTIVE again."""

        def body(uow: UnitOfWork, creator: Creator) -> JsonObject:
            voucher = _pending(uow, args)
            if creator.mspid != (voucher.financing_request or {}).get("applicant"):
                raise ChaincodeError("NOT_HOLDER", f"{creator.mspid} did not request financing")
            return _unfreeze(uow, voucher)

        return run_mutation(stub, args, "WithdrawFinancing", "FinancingWithdrawn", body)
