"""The `receivable` chaincode: receivable e-vouchers (应收账款电子凭证, DOMAIN §2).

Life cycle: IssueVoucher (core enterprise) → AcceptVoucher / RejectVoucher (payee)
or CancelVoucher (issuer, before acceptance) → SplitVoucher / TransferVoucher /
RequestFinancing… (holder) → SettleVoucher (issuer, with a bank payment ref), or
MarkOverdue → MarkDefault. Financing functions live in `receivable_financing`.

Every mutating function takes `request_id` (idempotency), refuses the regulator
(READ_ONLY_ROLE) and emits one event listing each changed key with its before and
after hashes. Queries are open to the regulator and to parties in the lineage.
Vouchers keep the limits of the policy version they were issued under; the block
list is always the current one.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from chaincode.contract import Contract, JsonObject, submit
from chaincode.contracts.common import (
    amount,
    currency,
    current_policy,
    kind_of,
    parse_date,
    require_kind,
    text,
    tx_date,
)
from chaincode.contracts.receivable_financing import FinancingFunctions
from chaincode.contracts.receivable_model import (
    ACTIVE,
    CANCELLED,
    FINANCED,
    PENDING_ACCEPTANCE,
    REJECTED,
    SPLIT,
    UnitOfWork,
    Voucher,
    VoucherRoot,
    blocked_key,
    invoice_key,
    root_key,
    root_voucher_id,
    sha256_hex,
    voucher_key,
)
from chaincode.contracts.receivable_queries import QueryFunctions
from chaincode.contracts.receivable_rules import (
    adjust_issuer,
    check_hops,
    check_recipient,
    check_split,
    issuer_record,
    pinned_policy,
    require_holder,
    require_not_matured,
    require_spendable,
    require_unfrozen,
    run_mutation,
    split_node,
)
from chaincode.contracts.receivable_settlement import SettlementFunctions
from chaincode.errors import ChaincodeError
from chaincode.stub import Creator, Stub

ISSUE_FIELDS = frozenset(
    {
        "request_id",
        "voucher_id",
        "payee",
        "amount",
        "currency",
        "issue_date",
        "maturity_date",
        "underlying",
        "sme_flag",
        "industry_norm_exception_code",
    }
)
UNDERLYING_FIELDS = frozenset(
    {
        "contract_no",
        "contract_hash",
        "contract_date",
        "invoice_nos",
        "invoice_hashes",
        "delivery_date",
        "delivery_proof_hash",
        "goods_desc_hash",
        "order_ids",
    }
)


def _underlying(value: Any) -> JsonObject:
    """Schema-check the trade documents (hashes only; documents stay off-chain).
    A `conditional_on` clause anywhere is a back-to-back payment term, forbidden
    by Decree 802 Art. 9 (CONDITIONAL_PAYMENT_FORBIDDEN)."""
    if not isinstance(value, dict):
        raise ChaincodeError("BAD_ARGUMENT", "underlying must be an object")
    if "conditional_on" in value:
        raise ChaincodeError("CONDITIONAL_PAYMENT_FORBIDDEN", "payment may not be conditional")
    unknown = sorted(set(value) - UNDERLYING_FIELDS)
    if unknown:
        raise ChaincodeError("BAD_ARGUMENT", f"unknown underlying fields {unknown}")
    out: JsonObject = {
        "contract_no": text(value, "contract_no"),
        "contract_hash": sha256_hex(value.get("contract_hash"), "underlying.contract_hash"),
    }
    for name in ("invoice_nos", "invoice_hashes", "order_ids"):
        items = value.get(name, [])
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise ChaincodeError("BAD_ARGUMENT", f"underlying.{name} must be a list of strings")
        out[name] = list(items)
    for h in out["invoice_hashes"]:
        sha256_hex(h, "underlying.invoice_hashes[]")
    if len(set(out["invoice_hashes"])) != len(out["invoice_hashes"]):
        raise ChaincodeError("BAD_ARGUMENT", "underlying.invoice_hashes has duplicates")
    if out["invoice_nos"] and len(out["invoice_nos"]) != len(out["invoice_hashes"]):
        raise ChaincodeError("BAD_ARGUMENT", "invoice_nos and invoice_hashes differ in length")
    for name in ("goods_desc_hash", "delivery_proof_hash"):
        if value.get(name) is not None:
            out[name] = sha256_hex(value[name], f"underlying.{name}")
    for name in ("delivery_date", "contract_date"):
        if value.get(name) is not None:
            out[name] = parse_date(value[name], f"underlying.{name}").isoformat()
    return out


def _release_invoices(uow: UnitOfWork, voucher: Voucher) -> None:
    """A rejected or cancelled root gives up its invoice hashes for reissue."""
    for invoice_hash in voucher.underlying.get("invoice_hashes", []):
        raw = uow.get(invoice_key(invoice_hash))
        if raw is not None and json.loads(raw).get("root_id") == voucher.root_id:
            uow.delete(invoice_key(invoice_hash), "InvoiceIndex")


def _end_pending(uow: UnitOfWork, voucher: Voucher, status: str) -> JsonObject:
    """REJECTED or CANCELLED: the root and the issuer's exposure follow."""
    uow.save_voucher(voucher.with_changes(status=status))
    uow.save_root(uow.root(voucher.root_id).with_changes(status=status))
    adjust_issuer(uow, voucher.issuer, outstanding=-voucher.amount)
    _release_invoices(uow, voucher)
    return {"voucher_id": voucher.voucher_id, "status": status}


class ReceivableContract(FinancingFunctions, SettlementFunctions, QueryFunctions, Contract):
    """Receivable e-vouchers; see the module docstring."""

    name = "receivable"

    # --- issue and acceptance -------------------------------------------------------

    @submit
    def issue_voucher(self, stub: Stub, args: JsonObject) -> Any:
        """`{voucher_id, payee, amount, currency, issue_date?, maturity_date,
        underlying, sme_flag?, industry_norm_exception_code?}` by a core enterprise.

        Rejections: ISSUER_BLOCKED (ledger block list or current policy),
        TENOR_EXCEEDS_MAX, SME_PAYMENT_TERM (SME payee, maturity later than
        delivery + sme_payment_days, no exception code), ISSUER_LIMIT_EXCEEDED,
        INVALID_PAYEE, VOUCHER_EXISTS, CONDITIONAL_PAYMENT_FORBIDDEN, BAD_ARGUMENT.
        Effects: root node PENDING_ACCEPTANCE held by the payee, `VoucherRoot`,
        invoice-hash index (a reused hash raises a `DuplicateTradeDoc` alert).
        """

        def body(uow: UnitOfWork, creator: Creator) -> JsonObject:
            require_kind(stub, creator, "core")
            if "conditional_on" in args:
                raise ChaincodeError(
                    "CONDITIONAL_PAYMENT_FORBIDDEN", "payment may not be conditional"
                )
            unknown = sorted(set(args) - ISSUE_FIELDS)
            if unknown:
                raise ChaincodeError("BAD_ARGUMENT", f"unknown fields {unknown}")
            version, policy = current_policy(stub)
            issuer = creator.mspid
            if uow.get(blocked_key(issuer)) is not None or issuer in policy["blocked_issuers"]:
                raise ChaincodeError("ISSUER_BLOCKED", f"{issuer} may not issue new vouchers")
            voucher_id = root_voucher_id(args.get("voucher_id"))
            payee = text(args, "payee")
            if kind_of(stub, payee) != "supplier" or payee == issuer:
                raise ChaincodeError("INVALID_PAYEE", f"{payee} is not a registered supplier")
            face = amount(args.get("amount"), "amount", minimum=int(policy["min_issue_amount"]))
            ccy = currency(args.get("currency"))
            today = tx_date(stub)
            issue = parse_date(args.get("issue_date", today.isoformat()), "issue_date")
            maturity = parse_date(args.get("maturity_date"), "maturity_date")
            if issue > today or maturity <= max(issue, today):
                raise ChaincodeError("BAD_ARGUMENT", "need issue_date ≤ today < maturity_date")
            tenor = (maturity - issue).days
            if tenor > int(policy["max_tenor_days"]):
                raise ChaincodeError(
                    "TENOR_EXCEEDS_MAX", f"tenor {tenor} > {policy['max_tenor_days']} days"
                )
            underlying = _underlying(args.get("underlying"))
            sme = args.get("sme_flag", False)
            if not isinstance(sme, bool):
                raise ChaincodeError("BAD_ARGUMENT", "sme_flag must be a boolean")
            exception_code = args.get("industry_norm_exception_code") or None
            if exception_code is not None and not isinstance(exception_code, str):
                raise ChaincodeError("BAD_ARGUMENT", "industry_norm_exception_code: string")
            if sme:
                _check_sme_term(uow, underlying, maturity, policy, exception_code, voucher_id)
            if uow.get(voucher_key(voucher_id)) is not None:
                raise ChaincodeError("VOUCHER_EXISTS", f"{voucher_id} already exists")
            exposure = issuer_record(uow, issuer)["outstanding"] + face
            limit = dict(policy["issuer_limit"]).get(issuer)
            if limit is not None and exposure > int(limit):
                raise ChaincodeError(
                    "ISSUER_LIMIT_EXCEEDED", f"exposure {exposure} > issuer_limit {limit}"
                )
            tx_id = stub.get_tx_id()
            conflicts = _index_invoices(uow, voucher_id, issuer, underlying)
            voucher = Voucher(
                voucher_id=voucher_id,
                root_id=voucher_id,
                parent_id=None,
                depth=0,
                transfer_hops=0,
                issuer=issuer,
                payee_original=payee,
                holder=payee,
                amount=face,
                currency=ccy,
                issue_date=issue.isoformat(),
                maturity_date=maturity.isoformat(),
                underlying=underlying,
                sme_flag=sme,
                status=PENDING_ACCEPTANCE,
                policy_version=version,
                created_tx=tx_id,
                updated_tx=tx_id,
                industry_norm_exception_code=exception_code,
                long_tenor=tenor > int(policy["soft_tenor_days"]),
                parties=(payee,),
            )
            uow.save_voucher(voucher)
            uow.save_root(
                VoucherRoot(
                    root_id=voucher_id,
                    issuer=issuer,
                    payee_original=payee,
                    face_total=face,
                    currency=ccy,
                    issue_date=voucher.issue_date,
                    maturity_date=voucher.maturity_date,
                    paid_total=0,
                    late_interest_total=0,
                    status=PENDING_ACCEPTANCE,
                    policy_version=version,
                    created_tx=tx_id,
                    updated_tx=tx_id,
                    trade_doc_conflicts=tuple(conflicts),
                )
            )
            adjust_issuer(uow, issuer, outstanding=face)
            return {
                "voucher_id": voucher_id,
                "status": PENDING_ACCEPTANCE,
                "policy_version": version,
                "long_tenor": voucher.long_tenor,
            }

        return run_mutation(stub, args, "IssueVoucher", "VoucherIssued", body)

    @submit
    def accept_voucher(self, stub: Stub, args: JsonObject) -> Any:
        """`{voucher_id}` by the payee (确权/签收; no deemed acceptance) → ACTIVE."""

        def body(uow: UnitOfWork, creator: Creator) -> JsonObject:
            voucher = _pending_acceptance(uow, args, creator)
            uow.save_voucher(voucher.with_changes(status=ACTIVE))
            uow.save_root(uow.root(voucher.root_id).with_changes(status=ACTIVE))
            return {"voucher_id": voucher.voucher_id, "status": ACTIVE}

        return run_mutation(stub, args, "AcceptVoucher", "VoucherAccepted", body)

    @submit
    def reject_voucher(self, stub: Stub, args: JsonObject) -> Any:
        """`{voucher_id, reason?}` by the payee → REJECTED; free of charge (N3)."""

        def body(uow: UnitOfWork, creator: Creator) -> JsonObject:
            return _end_pending(uow, _pending_acceptance(uow, args, creator), REJECTED)

        return run_mutation(stub, args, "RejectVoucher", "VoucherRejected", body)

    @submit
    def cancel_voucher(self, stub: Stub, args: JsonObject) -> Any:
        """`{voucher_id}` by the issuer, only while PENDING_ACCEPTANCE; an accepted
        voucher is irrevocable (IRREVOCABLE)."""

        def body(uow: UnitOfWork, creator: Creator) -> JsonObject:
            voucher = uow.voucher(text(args, "voucher_id"))
            if creator.mspid != voucher.issuer:
                raise ChaincodeError("NOT_ISSUER", f"{creator.mspid} did not issue it")
            if voucher.status in (REJECTED, CANCELLED):
                raise ChaincodeError("INVALID_STATUS", f"{voucher.voucher_id} is {voucher.status}")
            if voucher.status != PENDING_ACCEPTANCE:
                raise ChaincodeError("IRREVOCABLE", f"{voucher.voucher_id} was accepted")
            return _end_pending(uow, voucher, CANCELLED)

        return run_mutation(stub, args, "CancelVoucher", "VoucherCancelled", body)

    # --- split and transfer -----------------------------------------------------------

    @submit
    def split_voucher(self, stub: Stub, args: JsonObject) -> Any:
        """`{voucher_id, amounts: [a1..aN]}` by the holder; children `{id}-k`."""

        def body(uow: UnitOfWork, creator: Creator) -> JsonObject:
            voucher = uow.voucher(text(args, "voucher_id"))
            require_spendable(stub, voucher, creator)
            parts = check_split(voucher, args.get("amounts"), pinned_policy(stub, voucher))
            children = split_node(uow, voucher, parts)
            return {
                "voucher_id": voucher.voucher_id,
                "status": SPLIT,
                "children": [{"voucher_id": c.voucher_id, "amount": c.amount} for c in children],
            }

        return run_mutation(stub, args, "SplitVoucher", "VoucherSplit", body)

    @submit
    def transfer_voucher(self, stub: Stub, args: JsonObject) -> Any:
        """`{voucher_id, to, amount?}` by the holder. A partial amount is an atomic
        split into `[amount, rest]` and a transfer of the first child. A FINANCED
        leaf moves only bank to bank and only if `allow_refactoring`."""

        def body(uow: UnitOfWork, creator: Creator) -> JsonObject:
            voucher = uow.voucher(text(args, "voucher_id"))
            policy = pinned_policy(stub, voucher)
            if voucher.status == FINANCED:
                require_holder(voucher, creator)
                if not policy["allow_refactoring"] or kind_of(stub, args.get("to", "")) != "bank":
                    raise ChaincodeError(
                        "REFACTORING_NOT_ALLOWED", f"{voucher.voucher_id} is FINANCED"
                    )
                require_unfrozen(voucher)
                require_not_matured(voucher, tx_date(stub))
            else:
                require_spendable(stub, voucher, creator)
            to = check_recipient(stub, voucher, args.get("to"))
            wanted = amount(args.get("amount", voucher.amount), "amount")
            if wanted > voucher.amount:
                raise ChaincodeError(
                    "INSUFFICIENT_AMOUNT",
                    f"{voucher.voucher_id} holds {voucher.amount}, asked {wanted}",
                )
            check_hops(voucher, policy)
            moved = voucher
            if wanted < voucher.amount:
                if voucher.status == FINANCED:
                    raise ChaincodeError("REFACTORING_NOT_ALLOWED", "partial re-factoring")
                parts = check_split(voucher, [wanted, voucher.amount - wanted], policy)
                moved = split_node(uow, voucher, parts)[0]
            uow.save_voucher(
                moved.with_changes(
                    holder=to, transfer_hops=moved.transfer_hops + 1, parties=moved.with_party(to)
                )
            )
            return {
                "voucher_id": moved.voucher_id,
                "holder": to,
                "amount": moved.amount,
                "transfer_hops": moved.transfer_hops + 1,
                "split_from": voucher.voucher_id if moved is not voucher else None,
            }

        return run_mutation(stub, args, "TransferVoucher", "VoucherTransferred", body)


def _pending_acceptance(uow: UnitOfWork, args: JsonObject, creator: Creator) -> Voucher:
    voucher = uow.voucher(text(args, "voucher_id"))
    if creator.mspid != voucher.payee_original or voucher.parent_id is not None:
        raise ChaincodeError("NOT_PAYEE", f"{creator.mspid} is not the payee")
    if voucher.status != PENDING_ACCEPTANCE:
        raise ChaincodeError("INVALID_STATUS", f"{voucher.voucher_id} is {voucher.status}")
    return voucher


def _check_sme_term(
    uow: UnitOfWork,
    underlying: JsonObject,
    maturity: dt.date,
    policy: Any,
    exception_code: str | None,
    voucher_id: str,
) -> None:
    """Decree 802 Art. 9/11: a large buyer pays an SME within `sme_payment_days`
    of delivery; a longer voucher needs an industry-norm exception code, which is
    flagged to the regulator (`SmePaymentTermException`)."""
    if "delivery_date" not in underlying:
        raise ChaincodeError("BAD_ARGUMENT", "an SME payee needs underlying.delivery_date")
    delivery = dt.date.fromisoformat(underlying["delivery_date"])
    latest = delivery + dt.timedelta(days=int(policy["sme_payment_days"]))
    if maturity <= latest:
        return
    if exception_code is None:
        raise ChaincodeError(
            "SME_PAYMENT_TERM", f"maturity {maturity} is after {latest} (delivery + term)"
        )
    uow.alert(
        "SmePaymentTermException",
        voucher_id=voucher_id,
        maturity_date=maturity.isoformat(),
        latest=latest.isoformat(),
        code=exception_code,
    )


def _index_invoices(
    uow: UnitOfWork, root_id: str, issuer: str, underlying: JsonObject
) -> list[str]:
    """Claim each invoice hash for this root; a hash another root already holds
    is kept there, listed as a conflict and alerted (financing will refuse it)."""
    conflicts = []
    for invoice_hash in underlying["invoice_hashes"]:
        raw = uow.get(invoice_key(invoice_hash))
        if raw is None:
            uow.put(
                invoice_key(invoice_hash),
                {"root_id": root_id, "issuer": issuer},
                "InvoiceIndex",
            )
            continue
        conflicts.append(invoice_hash)
        uow.alert(
            "DuplicateTradeDoc",
            root_id=root_id,
            invoice_hash=invoice_hash,
            first_root=json.loads(raw)["root_id"],
        )
    return conflicts


__all__ = ["ReceivableContract", "root_key"]
