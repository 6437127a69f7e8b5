"""Rules shared by the receivable transaction functions: the idempotent
transaction wrapper, the "may this leaf be spent" checks, splitting, and the
per-issuer record (DOMAIN §2.4 T5–T7, §3.1).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any

from chaincode.contract import JsonObject
from chaincode.contracts.common import (
    kind_of,
    parse_date,
    policy_at,
    remember_result,
    replayed_result,
    require_writer,
    tx_date,
)
from chaincode.contracts.receivable_model import (
    ACTIVE,
    FINANCED,
    FINANCING_PENDING,
    SPLIT,
    UnitOfWork,
    Voucher,
    child_id,
    issuer_key,
    voucher_key,
)
from chaincode.errors import ChaincodeError
from chaincode.stub import Creator, Stub

CONTRACT = "receivable"

Body = Callable[[UnitOfWork, Creator], JsonObject]


def run_mutation(stub: Stub, args: JsonObject, fn_name: str, event_type: str, body: Body) -> Any:
    """Run one mutating call: refuse the regulator (READ_ONLY_ROLE), answer a
    replayed `request_id` with its original result, else run `body`, emit the
    transaction's event and remember the result.

    The idempotency digest covers the caller's MSP as well as the payload, so the
    same `request_id` from another org is an IDEMPOTENCY_CONFLICT, never a replay.
    `body` raising `ChaincodeError` leaves no effect (the simulation is dropped).
    """
    creator = require_writer(stub)
    keyed = {**args, "_caller": creator.mspid}
    replay = replayed_result(stub, CONTRACT, fn_name, keyed)
    if replay is not None:
        return replay
    uow = UnitOfWork(stub)
    result = body(uow, creator)
    uow.finish(event_type)
    remember_result(stub, CONTRACT, fn_name, keyed, result)
    return result


def pinned_policy(stub: Stub, voucher: Voucher) -> Mapping[str, Any]:
    """The parameters of the policy version the voucher's root was issued under."""
    return policy_at(stub, voucher.policy_version)


def require_leaf(voucher: Voucher) -> None:
    """I2: a SPLIT node carries no value and can't be moved, financed or settled."""
    if voucher.status == SPLIT:
        raise ChaincodeError(
            "NOT_A_LEAF", f"{voucher.voucher_id} was split into {', '.join(voucher.children)}"
        )


def require_holder(voucher: Voucher, creator: Creator) -> None:
    if voucher.holder != creator.mspid:
        raise ChaincodeError(
            "NOT_HOLDER", f"{creator.mspid} does not hold {voucher.voucher_id} ({voucher.holder})"
        )


def require_unfrozen(voucher: Voucher) -> None:
    if voucher.status == FINANCING_PENDING or voucher.frozen_reason is not None:
        reason = voucher.frozen_reason or FINANCING_PENDING
        raise ChaincodeError("FROZEN", f"{voucher.voucher_id} is frozen ({reason})")


def require_not_matured(voucher: Voucher, today: dt.date) -> None:
    """DOMAIN §2.7: no split, transfer or financing on or after maturity."""
    if today >= parse_date(voucher.maturity_date, "maturity_date"):
        raise ChaincodeError("MATURED", f"{voucher.voucher_id} matured on {voucher.maturity_date}")


def require_spendable(stub: Stub, voucher: Voucher, creator: Creator) -> None:
    """The common gate of split, transfer and financing requests: a leaf, held by
    the caller, not frozen, ACTIVE, and before maturity (checked in that order)."""
    require_leaf(voucher)
    require_holder(voucher, creator)
    require_unfrozen(voucher)
    if voucher.status != ACTIVE:
        raise ChaincodeError(
            "INVALID_STATUS", f"{voucher.voucher_id} is {voucher.status}, not ACTIVE"
        )
    require_not_matured(voucher, tx_date(stub))


def check_split(voucher: Voucher, parts: Any, policy: Mapping[str, Any]) -> list[int]:
    """Validate a split of `voucher` into `parts` (DOMAIN §2.4 T5).

    Order: each part an integer (BAD_ARGUMENT), ≥ `min_split_unit` and > 0
    (INVALID_SPLIT_PART), 2 ≤ N (INVALID_SPLIT_PART) ≤ `max_children` and
    depth + 1 ≤ `max_depth` (SPLIT_LIMIT), and Σ parts == amount exactly
    (SPLIT_SUM_MISMATCH).
    """
    if not isinstance(parts, list):
        raise ChaincodeError("BAD_ARGUMENT", "amounts must be a list of integers")
    minimum = max(1, int(policy["min_split_unit"]))
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, int):
            raise ChaincodeError("BAD_ARGUMENT", f"split part {part!r} is not an integer")
        if part < minimum:
            raise ChaincodeError(
                "INVALID_SPLIT_PART", f"split part {part} is below the minimum unit {minimum}"
            )
    if len(parts) < 2:
        raise ChaincodeError("INVALID_SPLIT_PART", "a split needs at least two parts")
    if len(parts) > int(policy["max_children"]):
        raise ChaincodeError(
            "SPLIT_LIMIT", f"{len(parts)} parts exceed max_children={policy['max_children']}"
        )
    if voucher.depth + 1 > int(policy["max_depth"]):
        raise ChaincodeError(
            "SPLIT_LIMIT",
            f"{voucher.voucher_id} is at depth {voucher.depth}; max_depth={policy['max_depth']}",
        )
    if sum(parts) != voucher.amount:
        raise ChaincodeError(
            "SPLIT_SUM_MISMATCH", f"parts sum to {sum(parts)}, voucher holds {voucher.amount}"
        )
    return list(parts)


def split_node(uow: UnitOfWork, voucher: Voucher, parts: list[int]) -> list[Voucher]:
    """Write the split: the parent becomes SPLIT, children `{id}-1..N` are ACTIVE
    with the same holder and every attribute copied except amount, parent and
    depth (I1, I5). Preconditions: `check_split` passed; the caller checked access.
    A child id that already exists is a contract bug (ids ending in -<n> are
    reserved), reported rather than overwritten."""
    tx_id = uow.stub.get_tx_id()
    children: list[Voucher] = []
    for k, part in enumerate(parts, start=1):
        cid = child_id(voucher.voucher_id, k)
        if uow.get(voucher_key(cid)) is not None:
            raise ChaincodeError("VOUCHER_EXISTS", f"child id {cid} already exists")
        children.append(
            voucher.with_changes(
                voucher_id=cid,
                parent_id=voucher.voucher_id,
                depth=voucher.depth + 1,
                amount=part,
                status=ACTIVE,
                children=(),
                created_tx=tx_id,
            )
        )
    uow.save_voucher(
        voucher.with_changes(status=SPLIT, children=tuple(c.voucher_id for c in children))
    )
    for child in children:
        uow.save_voucher(child)
    return children


def check_recipient(stub: Stub, voucher: Voucher, to: Any) -> str:
    """A transferee must be a registered supplier or bank, not the current holder
    and not the issuer (a claim on oneself is no claim)."""
    if not isinstance(to, str) or not to:
        raise ChaincodeError("BAD_ARGUMENT", "to must be an MSP id")
    if kind_of(stub, to) not in ("supplier", "bank"):
        raise ChaincodeError("INVALID_RECIPIENT", f"{to} is not a registered supplier or bank")
    if to in (voucher.holder, voucher.issuer):
        raise ChaincodeError("INVALID_RECIPIENT", f"{to} may not receive {voucher.voucher_id}")
    return to


def check_hops(voucher: Voucher, policy: Mapping[str, Any]) -> None:
    """Layer limit (DOMAIN §3.1 N7): one more holder change must stay within
    `max_transfer_hops`."""
    if voucher.transfer_hops + 1 > int(policy["max_transfer_hops"]):
        raise ChaincodeError(
            "LAYER_LIMIT",
            f"{voucher.voucher_id} has changed hands {voucher.transfer_hops} times; "
            f"max_transfer_hops={policy['max_transfer_hops']}",
        )


def is_financed(voucher: Voucher) -> bool:
    return voucher.status == FINANCED


# --- the per-issuer record --------------------------------------------------------


def issuer_record(uow: UnitOfWork, mspid: str) -> JsonObject:
    """`{issuer, outstanding, overdue_roots, defaulted_roots}`; zeros when new.
    `outstanding` is the face of the issuer's unpaid, not rejected/cancelled
    vouchers (I9 is checked against it)."""
    raw = uow.get(issuer_key(mspid))
    if raw is None:
        return {"issuer": mspid, "outstanding": 0, "overdue_roots": 0, "defaulted_roots": 0}
    record: JsonObject = json.loads(raw)
    return record


def adjust_issuer(uow: UnitOfWork, mspid: str, **deltas: int) -> JsonObject:
    record = issuer_record(uow, mspid)
    for name, delta in deltas.items():
        record[name] = int(record[name]) + delta
    uow.put(issuer_key(mspid), record, "IssuerRecord")
    return record
