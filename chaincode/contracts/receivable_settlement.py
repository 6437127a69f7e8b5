"""Settlement, overdue and default of receivable e-vouchers (DOMAIN §2.4
T10–T12, §3.1 N6, §3.2 P7). Mixed into `ReceivableContract`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from chaincode.contract import JsonObject, submit
from chaincode.contracts.common import (
    current_policy,
    kind_of,
    parse_date,
    round_half_up,
    text,
    tx_date,
)
from chaincode.contracts.receivable_model import (
    ACTIVE,
    DEFAULTED,
    FINANCED,
    FINANCING_PENDING,
    OVERDUE,
    PAID,
    PAID_LATE,
    UNPAID_LIVE,
    UnitOfWork,
    blocked_key,
    walk,
)
from chaincode.contracts.receivable_rules import (
    adjust_issuer,
    pinned_policy,
    require_leaf,
    run_mutation,
)
from chaincode.errors import ChaincodeError
from chaincode.stub import Creator, Stub


class SettlementFunctions:
    """Repayment by the issuer and the overdue/default sweep."""

    @submit
    def settle_voucher(self, stub: Stub, args: JsonObject) -> Any:
        """`{voucher_id | root_id, payment_ref, payment_bank, amount?, currency?}` by
        the issuer, with a bank's payment reference (N4: money moves through banks).

        A leaf, or every unpaid leaf of a whole root, → PAID, or PAID_LATE once past
        maturity + grace (late interest = round_half_up(amount × bps/day × days
        late / 10 000), days counted from maturity). Funds go to each leaf's
        holder; a FINANCING_PENDING leaf is withdrawn first. `amount`, if given,
        must equal the principal due (PAYMENT_MISMATCH).
        """

        def body(uow: UnitOfWork, creator: Creator) -> JsonObject:
            payment_ref = text(args, "payment_ref")
            bank = text(args, "payment_bank")
            if kind_of(stub, bank) != "bank":
                raise ChaincodeError("NOT_AUTHORIZED", f"payment_bank {bank} is not a bank")
            if "root_id" in args:
                root = uow.root(text(args, "root_id"))
                leaves = [n for n in walk(uow, root.root_id) if n.status in UNPAID_LIVE]
                if not leaves:
                    raise ChaincodeError("INVALID_STATUS", f"{root.root_id} has nothing to pay")
            else:
                leaf = uow.voucher(text(args, "voucher_id"))
                require_leaf(leaf)
                root = uow.root(leaf.root_id)
                leaves = [leaf]
            if creator.mspid != root.issuer:
                raise ChaincodeError("NOT_ISSUER", f"{creator.mspid} is not the issuer")
            if any(n.status not in UNPAID_LIVE for n in leaves):
                raise ChaincodeError("INVALID_STATUS", "only accepted, unpaid leaves settle")
            if args.get("currency", root.currency) != root.currency:
                raise ChaincodeError("CURRENCY_MISMATCH", f"vouchers are in {root.currency}")
            due = sum(n.amount for n in leaves)
            if args.get("amount", due) != due:
                raise ChaincodeError("PAYMENT_MISMATCH", f"principal due is {due}")
            policy = pinned_policy(stub, leaves[0])
            today = tx_date(stub)
            maturity = parse_date(root.maturity_date, "maturity_date")
            if today < maturity:
                if not policy["allow_early_settlement"]:
                    raise ChaincodeError("NOT_MATURED", f"matures on {root.maturity_date}")
                if any(n.status == FINANCING_PENDING for n in leaves):
                    raise ChaincodeError("FROZEN", "a financing request is pending")
            late_after = maturity + dt.timedelta(days=int(policy["grace_days"]))
            payouts: list[JsonObject] = []
            for leaf in leaves:
                late = leaf.status in (OVERDUE, DEFAULTED) or today > late_after
                days_late = (today - maturity).days if late else 0
                interest = round_half_up(
                    leaf.amount * int(policy["overdue_interest_bps_per_day"]) * days_late, 10_000
                )
                settlement = {
                    "payment_ref": payment_ref,
                    "payment_bank": bank,
                    "paid_to": leaf.holder,
                    "paid_date": today.isoformat(),
                    "principal": leaf.amount,
                    "days_late": days_late,
                    "late_interest": interest,
                }
                uow.save_voucher(
                    leaf.with_changes(
                        status=PAID_LATE if late else PAID,
                        frozen_reason=None,
                        financing_request=None,
                        settlement=settlement,
                    )
                )
                payouts.append({"voucher_id": leaf.voucher_id, **settlement})
            paid_total = root.paid_total + due
            late_total = root.late_interest_total + sum(int(p["late_interest"]) for p in payouts)
            uow.save_root(
                root.with_changes(
                    paid_total=paid_total,
                    late_interest_total=late_total,
                    status=PAID if paid_total == root.face_total else root.status,
                )
            )
            adjust_issuer(uow, root.issuer, outstanding=-due)
            return {"root_id": root.root_id, "paid_total": paid_total, "payouts": payouts}

        return run_mutation(stub, args, "SettleVoucher", "VoucherSettled", body)

    @submit
    def mark_overdue(self, stub: Stub, args: JsonObject) -> Any:
        """`{root_id}` by anyone but the regulator, once today > maturity + grace:
        unpaid ACTIVE/FINANCED/FINANCING_PENDING leaves → OVERDUE (NOT_OVERDUE
        otherwise); the issuer's overdue counter increments."""

        def body(uow: UnitOfWork, creator: Creator) -> JsonObject:
            root = uow.root(text(args, "root_id"))
            nodes = list(walk(uow, root.root_id))
            policy = pinned_policy(stub, nodes[0])
            maturity = parse_date(root.maturity_date, "maturity_date")
            if tx_date(stub) <= maturity + dt.timedelta(days=int(policy["grace_days"])):
                raise ChaincodeError("NOT_OVERDUE", f"{root.root_id} is within its term")
            due = [n for n in nodes if n.status in (ACTIVE, FINANCED, FINANCING_PENDING)]
            if not due:
                raise ChaincodeError("NOT_OVERDUE", f"{root.root_id} has no leaf to mark")
            for leaf in due:
                uow.save_voucher(
                    leaf.with_changes(status=OVERDUE, frozen_reason=None, financing_request=None)
                )
            uow.save_root(root.with_changes(status=OVERDUE))
            adjust_issuer(uow, root.issuer, overdue_roots=1)
            unpaid = sum(n.amount for n in due)
            uow.alert("VoucherOverdue", root_id=root.root_id, issuer=root.issuer, unpaid=unpaid)
            return {"root_id": root.root_id, "overdue": [n.voucher_id for n in due]}

        return run_mutation(stub, args, "MarkOverdue", "VoucherOverdue", body)

    @submit
    def mark_default(self, stub: Stub, args: JsonObject) -> Any:
        """`{root_id}` by anyone but the regulator, once overdue (past maturity +
        grace) for more than `default_after_days`: unpaid leaves → DEFAULTED; once
        the issuer's defaulted roots reach `overdue_block_threshold` it joins the
        ledger's block list (77号 Art. 15)."""

        def body(uow: UnitOfWork, creator: Creator) -> JsonObject:
            root = uow.root(text(args, "root_id"))
            nodes = list(walk(uow, root.root_id))
            policy = pinned_policy(stub, nodes[0])
            overdue_from = parse_date(root.maturity_date, "maturity_date") + dt.timedelta(
                days=int(policy["grace_days"])
            )
            if (tx_date(stub) - overdue_from).days <= int(policy["default_after_days"]):
                raise ChaincodeError("NOT_DEFAULTABLE", f"{root.root_id} is not yet in default")
            due = [n for n in nodes if n.status in (ACTIVE, FINANCED, FINANCING_PENDING, OVERDUE)]
            if not due:
                raise ChaincodeError("NOT_DEFAULTABLE", f"{root.root_id} has no unpaid leaf")
            for leaf in due:
                uow.save_voucher(
                    leaf.with_changes(status=DEFAULTED, frozen_reason=None, financing_request=None)
                )
            uow.save_root(root.with_changes(status=DEFAULTED))
            record = adjust_issuer(uow, root.issuer, defaulted_roots=1)
            _, current = current_policy(stub)
            blocked = record["defaulted_roots"] >= int(current["overdue_block_threshold"])
            if blocked and uow.get(blocked_key(root.issuer)) is None:
                uow.put(
                    blocked_key(root.issuer),
                    {"issuer": root.issuer, "root_id": root.root_id, "since_tx": stub.get_tx_id()},
                    "BlockedIssuer",
                )
                uow.alert("IssuerBlocked", issuer=root.issuer, root_id=root.root_id)
            return {
                "root_id": root.root_id,
                "defaulted": [n.voucher_id for n in due],
                "issuer_blocked": blocked,
            }

        return run_mutation(stub, args, "MarkDefault", "VoucherDefaulted", body)
