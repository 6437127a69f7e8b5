"""Read-only receivable queries (DOMAIN §6.3: the regulator reads everything;
others read only trees they are a party to). Mixed into `ReceivableContract`."""

from __future__ import annotations

import json
from typing import Any

from chaincode.contract import JsonObject, evaluate
from chaincode.contracts.common import current_policy, kind_of, text
from chaincode.contracts.receivable_model import (
    CANCELLED,
    PENDING_ACCEPTANCE,
    REJECTED,
    SPLIT,
    UNPAID_LIVE,
    VOUCHER,
    UnitOfWork,
    Voucher,
    blocked_key,
    is_regulator,
    voucher_key,
    walk,
)
from chaincode.contracts.receivable_rules import issuer_record
from chaincode.errors import ChaincodeError
from chaincode.stub import Stub, partial_composite_range


def _require_reader(stub: Stub, uow: UnitOfWork, root_id: str) -> list[Voucher]:
    """The regulator or a party in the lineage (issuer, anyone who held a node or
    was asked to finance it) may read a tree; returns its nodes."""
    nodes = list(walk(uow, root_id))
    caller = stub.get_creator().mspid
    if is_regulator(stub):
        return nodes
    parties = {nodes[0].issuer}
    for node in nodes:
        parties.update(node.parties)
        parties.add(node.holder)
    if caller not in parties:
        raise ChaincodeError("NOT_AUTHORIZED", f"{caller} is not a party to {root_id}")
    return nodes


class QueryFunctions:
    """Queries; none writes, and none needs a `request_id`."""

    @evaluate
    def get_voucher(self, stub: Stub, args: JsonObject) -> Any:
        """`{voucher_id}` → the voucher record (regulator or lineage party)."""
        uow = UnitOfWork(stub)
        voucher = uow.voucher(text(args, "voucher_id"))
        _require_reader(stub, uow, voucher.root_id)
        return voucher.to_json()

    @evaluate
    def get_root(self, stub: Stub, args: JsonObject) -> Any:
        """`{root_id}` → the `VoucherRoot` aggregate (regulator or lineage party)."""
        uow = UnitOfWork(stub)
        root = uow.root(text(args, "root_id"))
        _require_reader(stub, uow, root.root_id)
        return root.to_json()

    @evaluate
    def lineage(self, stub: Stub, args: JsonObject) -> Any:
        """`{root_id}` → `{root, nodes[], leaves_total}`: the whole tree depth-first
        with holders, amounts, statuses and created/updated tx ids; `leaves_total`
        sums the non-SPLIT nodes that are not REJECTED/CANCELLED (I1)."""
        uow = UnitOfWork(stub)
        root = uow.root(text(args, "root_id"))
        nodes = _require_reader(stub, uow, root.root_id)
        return {
            "root": root.to_json(),
            "nodes": [
                {
                    "voucher_id": n.voucher_id,
                    "parent_id": n.parent_id,
                    "depth": n.depth,
                    "holder": n.holder,
                    "amount": n.amount,
                    "status": n.status,
                    "transfer_hops": n.transfer_hops,
                    "children": list(n.children),
                    "financing": n.financing,
                    "created_tx": n.created_tx,
                    "updated_tx": n.updated_tx,
                }
                for n in nodes
            ],
            "leaves_total": sum(
                n.amount for n in nodes if n.status not in (SPLIT, REJECTED, CANCELLED)
            ),
        }

    @evaluate
    def holdings_of(self, stub: Stub, args: JsonObject) -> Any:
        """`{org}` → the leaves `org` holds that still carry a claim, by the org
        itself or the regulator (NOT_AUTHORIZED otherwise)."""
        org = text(args, "org")
        caller = stub.get_creator().mspid
        if caller != org and not is_regulator(stub):
            raise ChaincodeError("NOT_AUTHORIZED", f"{caller} may not see {org}'s holdings")
        start, end = partial_composite_range(VOUCHER, [])
        held = []
        for _, raw in stub.get_state_by_range(start, end):
            voucher = Voucher.from_json(raw)
            if voucher.holder == org and voucher.status in (PENDING_ACCEPTANCE, *UNPAID_LIVE):
                held.append(voucher.to_json())
        return {"org": org, "vouchers": held}

    @evaluate
    def history(self, stub: Stub, args: JsonObject) -> Any:
        """`{voucher_id}` → every committed version, oldest first, with tx id and
        timestamp (regulator or lineage party)."""
        uow = UnitOfWork(stub)
        voucher_id = text(args, "voucher_id")
        voucher = uow.voucher(voucher_id)
        _require_reader(stub, uow, voucher.root_id)
        return [
            {
                "tx_id": m.tx_id,
                "ts": m.timestamp.seconds,
                "is_delete": m.is_delete,
                "value": None if m.is_delete else json.loads(m.value),
            }
            for m in stub.get_history_for_key(voucher_key(voucher_id))
        ]

    @evaluate
    def issuer_status(self, stub: Stub, args: JsonObject) -> Any:
        """`{issuer}` → outstanding face, overdue/default counts and block status
        (the issuer itself, a bank or the regulator)."""
        issuer = text(args, "issuer")
        caller = stub.get_creator().mspid
        if caller != issuer and kind_of(stub, caller) not in ("regulator", "bank"):
            raise ChaincodeError("NOT_AUTHORIZED", f"{caller} may not see {issuer}'s exposure")
        uow = UnitOfWork(stub)
        _, policy = current_policy(stub)
        blocked = uow.get(blocked_key(issuer)) is not None or issuer in policy["blocked_issuers"]
        return {**issuer_record(uow, issuer), "blocked": blocked}
