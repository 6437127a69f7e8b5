"""The API a contract sees: the `Stub` protocol and the values it returns.

Contracts are pure functions over a `Stub` (Fabric shim's `ChaincodeStubInterface`):
no clock, no randomness, no I/O. Two endorsers running the same function on the
same committed state with the same proposal must produce byte-identical results.

Rules every implementation (the peer's simulator, the test ledger) keeps:

* Reads see committed state only, never this transaction's own writes.
* `get_state_by_range(start, end)` yields keys in `[start, end)` in byte order;
  an empty `end` means "to the end of the namespace".
* `set_event` keeps only the last event of a transaction, as Fabric does.
* This module imports only the standard library, so that
  `chaincode/contracts/` may depend on it (DESIGN §3).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

COMPOSITE_KEY_NAMESPACE = "\x00"
"""First character of every composite key (Fabric's `compositeKeyNamespace`)."""

MIN_UNICODE_RUNE = "\x00"
MAX_UNICODE_RUNE = "\U0010ffff"
"""Fabric's bounds for partial composite-key range queries."""


@dataclass(frozen=True)
class Creator:
    """Who submitted the proposal, taken from the verified creator certificate.

    `role` is the NodeOU role (client, admin, peer, orderer); `attributes` are the
    certificate's `attrs` (e.g. `{"role": "appraiser"}`).
    """

    mspid: str
    role: str
    enrollment_id: str
    attributes: Mapping[str, str] = field(default_factory=dict)

    def attribute(self, name: str) -> str | None:
        return self.attributes.get(name)


@dataclass(frozen=True)
class Timestamp:
    """The transaction timestamp from the proposal's channel header (UTC)."""

    seconds: int
    nanos: int = 0


@dataclass(frozen=True)
class KeyModification:
    """One committed change of a key, oldest first (Fabric's `KeyModification`)."""

    tx_id: str
    value: bytes
    timestamp: Timestamp
    is_delete: bool


class Stub(Protocol):
    """What a contract may ask of the ledger and of the transaction context."""

    def get_state(self, key: str) -> bytes | None: ...

    def put_state(self, key: str, value: bytes) -> None: ...

    def del_state(self, key: str) -> None: ...

    def get_state_by_range(self, start: str, end: str) -> Iterator[tuple[str, bytes]]:
        """Committed keys in `[start, end)`, ascending; recorded for phantom checks."""
        ...

    def get_history_for_key(self, key: str) -> Iterator[KeyModification]: ...

    def set_event(self, name: str, payload: bytes) -> None: ...

    def get_creator(self) -> Creator: ...

    def get_tx_id(self) -> str: ...

    def get_tx_timestamp(self) -> Timestamp: ...

    def get_channel_config_value(self, name: str) -> str | None:
        """A value the channel configuration exposes to contracts, or None.

        Known names: `org_kinds` (JSON object mspid → kind: core, supplier, bank,
        warehouse, regulator, govfund, oracle, platform), `governance_approvers`
        (JSON list of MSP ids whose admins approve policy changes) and
        `policy_parameters` (JSON object: the genesis policy parameters).
        """
        ...

    def check_signature(self, identity: bytes, data: bytes, signature: bytes) -> Creator:
        """Validate a serialized identity with the channel's MSPs and verify its
        signature over `data`; return who signed. Raises `ChaincodeError`
        (`INVALID_SIGNATURE`) on any failure. Used for governance approvals."""
        ...


def create_composite_key(object_type: str, attributes: Sequence[str]) -> str:
    """Fabric's composite key: `\\x00 type \\x00 attr1 \\x00 attr2 \\x00 ...`."""
    _check_key_part(object_type)
    for attribute in attributes:
        _check_key_part(attribute)
    parts = [COMPOSITE_KEY_NAMESPACE, object_type, MIN_UNICODE_RUNE]
    for attribute in attributes:
        parts.append(attribute)
        parts.append(MIN_UNICODE_RUNE)
    return "".join(parts)


def split_composite_key(key: str) -> tuple[str, list[str]]:
    """Inverse of `create_composite_key`."""
    if not key.startswith(COMPOSITE_KEY_NAMESPACE):
        raise ValueError("not a composite key")
    pieces = key[1:].split(MIN_UNICODE_RUNE)
    # The trailing separator leaves one empty piece at the end.
    return pieces[0], pieces[1:-1]


def partial_composite_range(object_type: str, attributes: Sequence[str]) -> tuple[str, str]:
    """The `[start, end)` range holding every key with this type and attribute prefix."""
    start = create_composite_key(object_type, attributes)
    return start, start + MAX_UNICODE_RUNE


def _check_key_part(part: str) -> None:
    if MIN_UNICODE_RUNE in part or MAX_UNICODE_RUNE in part:
        raise ValueError("composite key parts may not contain U+0000 or U+10FFFF")
