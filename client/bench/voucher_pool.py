"""The voucher benchmarks' set-up (`client.bench.voucher`, `client.bench.runner`'s
voucher-flow): request builders, set-up submissions that must succeed, a pool of
accepted, split vouchers, and how a failed call is reduced to one code."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client.commit import Commit
from client.contract import Contract
from client.demo_plan import platform_today, sha_hex
from client.errors import CommitError, GatewayError
from client.gateway import Gateway
from client.profile import load_profile
from common.errors import ScfError

__all__ = [
    "CHAINCODE",
    "CHANNEL",
    "LAG_CODES",
    "SUPPLIERS",
    "Leaf",
    "endorse_retrying",
    "issue_request",
    "outcome_code",
    "prepare_pool",
    "submit_all",
    "underlying",
]

CHANNEL = "trade"
CHAINCODE = "receivable"
SUPPLIERS = ("supplier1", "supplier2", "supplier3")


def underlying(label: str) -> dict[str, Any]:
    """Trade documents (hashes only) unique to `label`: a contract and one invoice."""
    return {
        "contract_no": f"C-{label}",
        "contract_hash": sha_hex(f"contract {label}"),
        "invoice_nos": [f"INV-{label}"],
        "invoice_hashes": [sha_hex(f"invoice {label}")],
        "goods_desc_hash": sha_hex(f"goods {label}"),
    }


def issue_request(
    voucher_id: str, payee: str, amount: int, *, days: int = 90, request_id: str | None = None
) -> dict[str, Any]:
    """IssueVoucher arguments: a CNY voucher to `payee` (MSP id) maturing in `days`."""
    return {
        "request_id": request_id or f"issue-{voucher_id}",
        "voucher_id": voucher_id,
        "payee": payee,
        "amount": amount,
        "currency": "CNY",
        "maturity_date": (platform_today() + dt.timedelta(days=days)).isoformat(),
        "underlying": underlying(voucher_id),
    }


_CHAINCODE_CODE = re.compile(r"chaincode response \d+, ([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*): ")

LAG_CODES = frozenset({"ENDORSEMENT_MISMATCH", "NOT_FOUND"})
"""Endorsement failures that mean "one endorsing peer has not committed the last
block yet": the commit status comes from the gateway peer alone."""


def endorse_retrying(
    contract: Contract,
    fn: str,
    args: dict[str, Any],
    *,
    retry: frozenset[str] | None = LAG_CODES,
    attempts: int = 20,
    pause_s: float = 0.1,
) -> tuple[bytes, Commit]:
    """`submit_async`, retried while endorsement fails with a code in `retry` (any
    code when None) — safe: nothing was ordered, and the request id is the same."""
    for attempt in range(attempts):
        try:
            return contract.submit_async(fn, json.dumps(args))
        except GatewayError as exc:
            lagging = retry is None or outcome_code(exc) in retry
            if not lagging or attempt == attempts - 1:
                raise
            time.sleep(pause_s)
    raise AssertionError("unreachable")


def submit_all(contract: Contract, calls: Iterable[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Endorse and submit every call without waiting, then wait for all commits;
    returns the decoded results in order. For set-up steps, each expected to
    succeed: an endorsement refusal is retried for ~2 s (`endorse_retrying` with
    any code), since the step may depend on a block the gateway peer committed but
    the other endorser has not yet. Raises the first error (an `EndorseError`, or
    a `CommitError` after every commit has been waited for)."""
    pending = [endorse_retrying(contract, fn, args, retry=None) for fn, args in calls]
    failure: Exception | None = None
    for _, commit in pending:
        status = commit.status()
        if not status.successful and failure is None:
            failure = CommitError(status.transaction_id, status.code, status.block_number)
    if failure is not None:
        raise failure
    return [json.loads(result) for result, _ in pending]


@dataclass(frozen=True)
class Leaf:
    """A prepared leaf: its id, depth, amount and holder (profile org name)."""

    voucher_id: str
    depth: int
    amount: int
    holder: str


def prepare_pool(
    profile: str | Path,
    *,
    roots: int,
    children: int,
    leaf_amount: int,
    holders: Sequence[str] = SUPPLIERS,
    issuer_org: str = "core",
    tag: str | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> list[Leaf]:
    """Issue `roots` vouchers round-robin to `holders` (profile org names), accept
    each and split it into `children` leaves of `leaf_amount`; returns the leaves.
    Root ids are `BV.<tag>.r<k>` (a fresh tag by default, so runs don't collide)."""
    tag = tag or uuid.uuid4().hex[:8]
    loaded = load_profile(profile)
    mspid = {org: loaded.org(org).mspid for org in holders}
    plan = [(f"BV.{tag}.r{k}", holders[k % len(holders)]) for k in range(roots)]
    with Gateway.from_profile(profile, org=issuer_org, user="User1") as issuer:
        contract = issuer.network(CHANNEL).contract(CHAINCODE)
        for k, (root_id, holder) in enumerate(plan):
            # One at a time: each issuance updates the issuer's exposure record.
            submit_all(
                contract,
                [("IssueVoucher", issue_request(root_id, mspid[holder], leaf_amount * children))],
            )
            if k % 10 == 9:
                progress(f"issued {k + 1}/{roots} roots")
    gateways = {org: Gateway.from_profile(profile, org=org, user="User1") for org in holders}
    try:
        for org, gateway in gateways.items():
            mine = [root_id for root_id, holder in plan if holder == org]
            contract = gateway.network(CHANNEL).contract(CHAINCODE)
            submit_all(
                contract,
                [("AcceptVoucher", {"request_id": f"accept-{r}", "voucher_id": r}) for r in mine],
            )
            submit_all(
                contract,
                [
                    (
                        "SplitVoucher",
                        {
                            "request_id": f"split-{r}",
                            "voucher_id": r,
                            "amounts": [leaf_amount] * children,
                        },
                    )
                    for r in mine
                ],
            )
    finally:
        for gateway in gateways.values():
            gateway.close()
    progress(f"pool: {roots} roots × {children} leaves of {leaf_amount}")
    return [
        Leaf(f"{root_id}-{k}", 1, leaf_amount, holder)
        for root_id, holder in plan
        for k in range(1, children + 1)
    ]


def outcome_code(exc: Exception) -> str:
    """The code of a failed call: the contract's or gateway's error code, the
    validation code of an invalid commit, or ENDORSEMENT_MISMATCH when the
    endorsers returned different results."""
    if isinstance(exc, GatewayError):
        if exc.code == "ENDORSE_FAILED" and "do not match" in exc.message:
            return "ENDORSEMENT_MISMATCH"
        if exc.code in ("ENDORSE_FAILED", "EVALUATE_FAILED"):
            # `GatewayError` finds an embedded one-word code ("chaincode response
            # 500, FROZEN: ...") only at the start of a message; look again.
            for text in (exc.message, *(d.message for d in exc.details)):
                match = _CHAINCODE_CODE.search(text)
                if match:
                    return match.group(1)
        return exc.code
    if isinstance(exc, ScfError):
        return exc.code
    return type(exc).__name__
