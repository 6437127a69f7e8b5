"""Helpers for receivable tests: a caller that adds unique request ids, standard
issuance arguments, and the invariant checker (DOMAIN §2.6 I1–I10)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

import pytest

from chaincode.contracts.receivable import ReceivableContract
from chaincode.errors import ChaincodeError
from chaincode.stub import Creator, create_composite_key
from tests.unit.contracts.conftest import ORGS
from tests.unit.contracts.ledger import VALID, TestLedger

RECEIVABLE = ReceivableContract()


def sha(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


class Receivables:
    """Calls the receivable contract on a ledger; every submit gets a fresh
    `request_id` unless the test passes one."""

    def __init__(self, ledger: TestLedger) -> None:
        self.ledger = ledger
        self._n = 0

    def submit(self, fn: str, creator: Creator, **args: Any) -> Any:
        if "request_id" not in args:
            self._n += 1
            args["request_id"] = f"req-{self._n}"
        return self.ledger.invoke(RECEIVABLE, fn, args, creator=creator)

    def query(self, fn: str, creator: Creator, **args: Any) -> Any:
        return self.ledger.query(RECEIVABLE, fn, args, creator=creator)

    def rejects(self, code: str, fn: str, creator: Creator, **args: Any) -> ChaincodeError:
        """Assert the call fails with `code` and leaves the ledger unchanged."""
        before = self.ledger.state_hash()
        events = len(self.ledger.events)
        with pytest.raises(ChaincodeError) as err:
            self.submit(fn, creator, **args)
        assert err.value.code == code, err.value
        assert self.ledger.state_hash() == before
        assert len(self.ledger.events) == events
        return err.value

    def voucher(self, voucher_id: str) -> Any:
        return self.ledger.get(create_composite_key("voucher", [voucher_id]))

    def root(self, root_id: str) -> Any:
        return self.ledger.get(create_composite_key("voucher_root", [root_id]))

    def issue(
        self,
        voucher_id: str = "V1",
        *,
        payee: str = "Supplier1MSP",
        amount: int = 100_000_000,
        days: int = 90,
        issuer: Creator = ORGS.core,
        accept: bool = True,
        **extra: Any,
    ) -> Any:
        """Issue (and by default accept) a CNY voucher maturing `days` from today."""
        args: dict[str, Any] = {
            "voucher_id": voucher_id,
            "payee": payee,
            "amount": amount,
            "currency": "CNY",
            "maturity_date": self.ledger.clock.plus(days),
            "underlying": underlying(voucher_id),
        }
        args.update(extra)
        result = self.submit("IssueVoucher", issuer, **args)
        if accept:
            self.submit("AcceptVoucher", _creator_of(payee), voucher_id=voucher_id)
        return result


def underlying(label: str, **changes: Any) -> dict[str, Any]:
    docs: dict[str, Any] = {
        "contract_no": f"C-{label}",
        "contract_hash": sha(f"contract {label}"),
        "invoice_nos": [f"INV-{label}"],
        "invoice_hashes": [sha(f"invoice {label}")],
        "delivery_date": "2025-06-20",
        "goods_desc_hash": sha(f"goods {label}"),
    }
    docs.update(changes)
    return docs


def _creator_of(mspid: str) -> Creator:
    for name in vars(type(ORGS)):
        value = getattr(ORGS, name)
        if isinstance(value, Creator) and value.mspid == mspid and value.role == "client":
            return value
    raise KeyError(mspid)


creator_for = _creator_of


# --- invariants --------------------------------------------------------------------

LEAF_VALUE = {"ACTIVE", "FINANCING_PENDING", "FINANCED", "OVERDUE", "DEFAULTED", "PAID"}
TERMINAL = {"PAID", "PAID_LATE", "REJECTED", "CANCELLED", "SPLIT"}


def all_vouchers(ledger: TestLedger) -> dict[str, Any]:
    values = [ledger.get(k) for k in ledger.keys(create_composite_key("voucher", []))]
    return {v["voucher_id"]: v for v in values}


def check_invariants(
    ledger: TestLedger,
    previous: Mapping[str, Any] | None = None,
    issuer_limits: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Assert I1–I8 and I10 (and I9 when `issuer_limits` is given) on committed
    state; `previous` is the last snapshot, for I6/I7. Returns the new snapshot."""
    vouchers = all_vouchers(ledger)
    root_values = [ledger.get(k) for k in ledger.keys(create_composite_key("voucher_root", []))]
    roots = {r["root_id"]: r for r in root_values}
    # I3: ids unique (dict keys) and each key holds the voucher it names.
    for vid, v in vouchers.items():
        assert v["voucher_id"] == vid
        assert isinstance(v["holder"], str)
        assert v["holder"]
        assert v["amount"] > 0
    for root_id, root in roots.items():
        nodes = {vid: v for vid, v in vouchers.items() if v["root_id"] == root_id}
        top = nodes[root_id]
        # I1: value sits in the leaves and sums to the face.
        if root["status"] not in ("REJECTED", "CANCELLED"):
            leaves = [v for v in nodes.values() if v["status"] != "SPLIT"]
            assert sum(v["amount"] for v in leaves) == root["face_total"]
        paid = sum(v["amount"] for v in nodes.values() if v["status"] in ("PAID", "PAID_LATE"))
        assert paid == root["paid_total"]
        for v in nodes.values():
            if v["status"] == "SPLIT":
                kids = [nodes[c] for c in v["children"]]
                assert len(kids) >= 2
                assert sum(k["amount"] for k in kids) == v["amount"]
            else:
                assert v["children"] == []  # I2: leaves have no children
            # I5: lineage reaches the root with depth = chain length.
            depth, node = 0, v
            while node["parent_id"] is not None:
                node = nodes[node["parent_id"]]
                depth += 1
            assert node["voucher_id"] == root_id
            assert depth == v["depth"]
            for attr in ("issuer", "currency", "maturity_date", "underlying", "issue_date"):
                assert v[attr] == top[attr]
            # I8: bounded tenor.
            tenor = dt.date.fromisoformat(v["maturity_date"]) - dt.date.fromisoformat(
                v["issue_date"]
            )
            assert tenor.days <= 365
            # I4: a leaf is in at most one of pending financing / financed.
            if v["status"] == "FINANCED":
                assert v["financing_request"] is None
                assert v["financing"] is not None
            if v["status"] == "FINANCING_PENDING":
                assert v["financing_request"] is not None
    if previous is not None:
        for vid, old in previous.items():
            new = vouchers[vid]
            # I6: immutable attributes.
            for attr in ("amount", "maturity_date", "issuer", "currency", "underlying"):
                assert new[attr] == old[attr]
            # I7: terminal states are absorbing.
            if old["status"] in TERMINAL:
                assert new == old
    # I10: no committed write by the regulator.
    for tx in ledger.transactions:
        if tx.creator.mspid == "RegulatorMSP":
            assert tx.status != VALID or not tx.writes
    if issuer_limits:
        for issuer, limit in issuer_limits.items():
            live = sum(
                v["amount"]
                for v in vouchers.values()
                if v["issuer"] == issuer
                and v["status"] in {"PENDING_ACCEPTANCE", *LEAF_VALUE} - {"PAID"}
            )
            assert live <= limit
    return vouchers
