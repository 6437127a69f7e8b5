"""Receivable e-voucher records, their ledger keys, and the unit of work every
receivable transaction runs in (DOMAIN §2.2).

Keys (composite, so range scans stay within one object type):

* `voucher/<voucher_id>`: a `Voucher` node (root or split child).
* `voucher_root/<root_id>`: the `VoucherRoot` aggregate.
* `invoice_hash/<sha256>`: which root first claimed an invoice hash (DOMAIN §3.1 N8).
* `registration/<ref>`: which voucher a financing registration was used for.
* `issuer/<mspid>`: per-issuer outstanding face and overdue/default counters.
* `blocked_issuer/<mspid>`: the ledger-kept block list (DOMAIN §3.1 N6).

Because reads never see this transaction's own writes, `UnitOfWork` caches what a
transaction has written and serves later reads from that cache; it also builds the
single audit event listing every change.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from chaincode.contract import JsonObject, canonical_json
from chaincode.contracts.common import change_record, kind_of
from chaincode.errors import ChaincodeError
from chaincode.stub import Stub, create_composite_key

VOUCHER = "voucher"
ROOT = "voucher_root"
INVOICE = "invoice_hash"
REGISTRATION = "registration"
ISSUER = "issuer"
BLOCKED = "blocked_issuer"

# Voucher statuses (DOMAIN §2.3).
PENDING_ACCEPTANCE = "PENDING_ACCEPTANCE"
ACTIVE = "ACTIVE"
FINANCING_PENDING = "FINANCING_PENDING"
FINANCED = "FINANCED"
SPLIT = "SPLIT"
OVERDUE = "OVERDUE"
DEFAULTED = "DEFAULTED"
PAID = "PAID"
PAID_LATE = "PAID_LATE"
REJECTED = "REJECTED"
CANCELLED = "CANCELLED"

TERMINAL = frozenset({PAID, PAID_LATE, REJECTED, CANCELLED, SPLIT})
UNPAID_LIVE = frozenset({ACTIVE, FINANCING_PENDING, FINANCED, OVERDUE, DEFAULTED})
"""Leaf statuses that still carry an unpaid claim on the issuer."""

_ID = re.compile(r"[A-Za-z0-9_.:]+(-[A-Za-z0-9_.:]+)*")
_CHILD_SUFFIX = re.compile(r"-[0-9]+$")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def voucher_key(voucher_id: str) -> str:
    return create_composite_key(VOUCHER, [voucher_id])


def root_key(root_id: str) -> str:
    return create_composite_key(ROOT, [root_id])


def invoice_key(invoice_hash: str) -> str:
    return create_composite_key(INVOICE, [invoice_hash])


def registration_key(ref: str) -> str:
    return create_composite_key(REGISTRATION, [ref])


def issuer_key(mspid: str) -> str:
    return create_composite_key(ISSUER, [mspid])


def blocked_key(mspid: str) -> str:
    return create_composite_key(BLOCKED, [mspid])


def child_id(parent_id: str, k: int) -> str:
    """The id of a split's k-th child (1-based): `{parent_id}-{k}` (DOMAIN §2.2)."""
    return f"{parent_id}-{k}"


def root_voucher_id(value: Any) -> str:
    """A valid new root id. Ids ending in `-<digits>` are reserved for split
    children, so a root can never collide with another root's child."""
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or not _ID.fullmatch(value):
        raise ChaincodeError(
            "BAD_ARGUMENT", "voucher_id must be 1–64 chars of letters, digits, _ . : and -"
        )
    if _CHILD_SUFFIX.search(value):
        raise ChaincodeError(
            "BAD_ARGUMENT", f"voucher_id {value!r} may not end in -<number> (reserved)"
        )
    return value


def sha256_hex(value: Any, field_name: str) -> str:
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise ChaincodeError("BAD_ARGUMENT", f"{field_name} must be lowercase SHA-256 hex")
    return value


@dataclass(frozen=True)
class Voucher:
    """One node of a voucher tree. Invariant (I6): `amount`, `maturity_date`,
    `issuer`, `currency` and `underlying` never change once written; a split
    makes new nodes instead. `parties` is everyone who ever held the node or was
    asked to finance it, for the "party in the lineage" read check."""

    voucher_id: str
    root_id: str
    parent_id: str | None
    depth: int
    transfer_hops: int
    issuer: str
    payee_original: str
    holder: str
    amount: int
    currency: str
    issue_date: str
    maturity_date: str
    underlying: Mapping[str, Any]
    sme_flag: bool
    status: str
    policy_version: int
    created_tx: str
    updated_tx: str
    industry_norm_exception_code: str | None = None
    long_tenor: bool = False
    frozen_reason: str | None = None
    financing_request: Mapping[str, Any] | None = None
    financing: Mapping[str, Any] | None = None
    registration_ref: str | None = None
    settlement: Mapping[str, Any] | None = None
    children: tuple[str, ...] = ()
    parties: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, raw: bytes) -> Voucher:
        obj = json.loads(raw)
        obj["children"] = tuple(obj.get("children", ()))
        obj["parties"] = tuple(obj.get("parties", ()))
        return cls(**obj)

    def to_json(self) -> JsonObject:
        obj = dataclasses.asdict(self)
        obj["children"] = list(self.children)
        obj["parties"] = list(self.parties)
        return obj

    def with_changes(self, **changes: Any) -> Voucher:
        return dataclasses.replace(self, **changes)

    def with_party(self, mspid: str) -> tuple[str, ...]:
        return tuple(sorted({*self.parties, mspid}))

    @property
    def is_leaf(self) -> bool:
        return self.status != SPLIT


@dataclass(frozen=True)
class VoucherRoot:
    """The per-root aggregate (DOMAIN §2.2): I1 says the live or paid leaves of
    the tree sum to `face_total`; `paid_total` counts principal paid so far."""

    root_id: str
    issuer: str
    payee_original: str
    face_total: int
    currency: str
    issue_date: str
    maturity_date: str
    paid_total: int
    late_interest_total: int
    status: str
    policy_version: int
    created_tx: str
    updated_tx: str
    trade_doc_conflicts: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, raw: bytes) -> VoucherRoot:
        obj = json.loads(raw)
        obj["trade_doc_conflicts"] = tuple(obj.get("trade_doc_conflicts", ()))
        return cls(**obj)

    def to_json(self) -> JsonObject:
        obj = dataclasses.asdict(self)
        obj["trade_doc_conflicts"] = list(self.trade_doc_conflicts)
        return obj

    def with_changes(self, **changes: Any) -> VoucherRoot:
        return dataclasses.replace(self, **changes)


@dataclass
class UnitOfWork:
    """Reads through this transaction's own writes; collects audit changes.

    Invariant: every `put` goes to the stub immediately (the write set) and to the
    cache (so later reads in the same transaction see it); `finish` emits one
    event whose `changes` hold, per key, the committed value's hash (before) and
    the last written value's hash (after).
    """

    stub: Stub
    _written: dict[str, bytes | None] = field(default_factory=dict)
    _before: dict[str, bytes | None] = field(default_factory=dict)
    _types: dict[str, str] = field(default_factory=dict)
    alerts: list[JsonObject] = field(default_factory=list)

    def get(self, key: str) -> bytes | None:
        if key in self._written:
            return self._written[key]
        value = self.stub.get_state(key)
        self._before.setdefault(key, value)
        return value

    def put(self, key: str, value: JsonObject, change_type: str) -> None:
        raw = canonical_json(value)
        if key not in self._before:
            self._before[key] = self.stub.get_state(key)
        self._written[key] = raw
        self._types[key] = change_type
        self.stub.put_state(key, raw)

    def delete(self, key: str, change_type: str) -> None:
        if key not in self._before:
            self._before[key] = self.stub.get_state(key)
        self._written[key] = None
        self._types[key] = change_type
        self.stub.del_state(key)

    def voucher(self, voucher_id: str) -> Voucher:
        raw = self.get(voucher_key(voucher_id))
        if raw is None:
            raise ChaincodeError("NOT_FOUND", f"voucher {voucher_id!r} does not exist")
        return Voucher.from_json(raw)

    def root(self, root_id: str) -> VoucherRoot:
        raw = self.get(root_key(root_id))
        if raw is None:
            raise ChaincodeError("NOT_FOUND", f"voucher root {root_id!r} does not exist")
        return VoucherRoot.from_json(raw)

    def save_voucher(self, voucher: Voucher) -> None:
        updated = voucher.with_changes(updated_tx=self.stub.get_tx_id())
        self.put(voucher_key(voucher.voucher_id), updated.to_json(), "Voucher")

    def save_root(self, root: VoucherRoot) -> None:
        updated = root.with_changes(updated_tx=self.stub.get_tx_id())
        self.put(root_key(root.root_id), updated.to_json(), "VoucherRoot")

    def alert(self, alert_type: str, **details: Any) -> None:
        """A regulator alert carried in this transaction's event (`alerts`)."""
        self.alerts.append({"type": alert_type, **details})

    def finish(self, event_type: str) -> None:
        """Emit the one event of this transaction (Fabric keeps only the last)."""
        changes = [
            change_record(self.stub, self._types[key], key, self._before.get(key), value)
            for key, value in sorted(self._written.items())
        ]
        creator = self.stub.get_creator()
        payload = {
            "type": event_type,
            "tx_id": self.stub.get_tx_id(),
            "actor": creator.mspid,
            "ts": self.stub.get_tx_timestamp().seconds,
            "changes": changes,
            "alerts": self.alerts,
        }
        self.stub.set_event(event_type, canonical_json(payload))


def walk(uow: UnitOfWork, root_id: str) -> Iterator[Voucher]:
    """Every node of a tree, depth-first, parents before children, children in
    id order (`{parent}-1`, `{parent}-2`, …)."""
    stack = [root_id]
    while stack:
        node = uow.voucher(stack.pop())
        yield node
        stack.extend(reversed(node.children))


def is_regulator(stub: Stub) -> bool:
    return kind_of(stub, stub.get_creator().mspid) == "regulator"
