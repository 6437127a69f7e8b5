"""Per-transaction state view and the submit-function frame shared by the
warehouse-receipt and subsidy contracts.

The `Stub` shows committed state only: a contract that writes a key and reads it
again in the same transaction gets the *old* value (Fabric's rule). Functions
here that touch several records (a loan and all its receipts, a stock record and
all receipts it freezes) therefore go through `TxState`, which answers reads
from this transaction's own pending writes first and hands the stub exactly one
`put_state`/`del_state` per key, in first-write order, at `flush`.

`transact` is the frame every mutating function runs in:

1. the regulator is refused (`READ_ONLY_ROLE`) before anything else;
2. a repeated `request_id` with the same payload returns the original result,
   a different payload is `IDEMPOTENCY_CONFLICT` (DOMAIN §1);
3. the body runs against a fresh `TxState`; any `ChaincodeError` it raises
   leaves nothing written (the endorser discards the simulation);
4. on success the writes are flushed, one event carrying every changed key with
   its before/after hashes is emitted, and the result is remembered.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaincode.contract import JsonObject, canonical_json
from chaincode.contracts import common
from chaincode.errors import ChaincodeError
from chaincode.stub import Creator, Stub, create_composite_key, split_composite_key


def key(object_type: str, *parts: str) -> str:
    """A composite key; `BAD_ARGUMENT` when a part holds a forbidden character."""
    try:
        return create_composite_key(object_type, list(parts))
    except ValueError as exc:
        raise ChaincodeError("BAD_ARGUMENT", f"{object_type} key: {exc}") from None


def printable_key(raw: str) -> str:
    """`type~a~b` for a composite key (events and error messages); raw otherwise."""
    try:
        object_type, parts = split_composite_key(raw)
    except ValueError:
        return raw
    return "~".join([object_type, *parts])


_DELETED = b""
"""Marker in `TxState._writes` for a deleted key (state values are never empty)."""


@dataclass
class TxState:
    """Read-your-writes view over a stub for one transaction.

    Invariant: `_writes` holds the final value of every key this transaction
    touched (`_DELETED` for a deletion); nothing reaches the stub before `flush`.
    """

    stub: Stub
    _writes: dict[str, bytes] = field(default_factory=dict)
    _notes: dict[str, JsonObject] = field(default_factory=dict)

    def get(self, raw_key: str) -> JsonObject | None:
        if raw_key in self._writes:
            pending = self._writes[raw_key]
            return None if pending == _DELETED else _decode(pending)
        committed = self.stub.get_state(raw_key)
        return None if committed is None else _decode(committed)

    def put(self, raw_key: str, value: JsonObject) -> None:
        self._writes[raw_key] = canonical_json(value)

    def delete(self, raw_key: str) -> None:
        self._writes[raw_key] = _DELETED

    def note(self, raw_key: str, **fields: Any) -> None:
        """Business detail to attach to this key's entry in the event."""
        self._notes.setdefault(raw_key, {}).update(fields)

    def scan(self, object_type: str, *parts: str) -> list[tuple[str, JsonObject]]:
        """Committed records under a composite-key prefix, with this
        transaction's pending writes applied over them, in key order."""
        start = key(object_type, *parts)
        end = start + "\U0010ffff"
        merged: dict[str, JsonObject] = {}
        for raw_key, value in self.stub.get_state_by_range(start, end):
            merged[raw_key] = _decode(value)
        for raw_key, pending in self._writes.items():
            if start <= raw_key < end:
                if pending == _DELETED:
                    merged.pop(raw_key, None)
                else:
                    merged[raw_key] = _decode(pending)
        return sorted(merged.items())

    def flush(self, change_type: str) -> list[JsonObject]:
        """Write everything to the stub; return one audit entry per key
        (`common.change_record` plus this key's notes) in first-write order."""
        changes: list[JsonObject] = []
        for raw_key, pending in self._writes.items():
            before = self.stub.get_state(raw_key)
            if pending == _DELETED:
                self.stub.del_state(raw_key)
                after: bytes | None = None
            else:
                self.stub.put_state(raw_key, pending)
                after = pending
            entry = common.change_record(
                self.stub, change_type, printable_key(raw_key), before, after
            )
            entry.update(self._notes.get(raw_key, {}))
            changes.append(entry)
        return changes


def _decode(raw: bytes) -> JsonObject:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ChaincodeError("CORRUPT_STATE", "stored value is not a JSON object")
    return value


Body = Callable[[TxState, Creator], tuple[str, JsonObject]]
"""A submit function's body: returns (event type, result)."""


def transact(stub: Stub, contract: str, fn_name: str, args: JsonObject, body: Body) -> JsonObject:
    """Run `body` inside the common frame described in the module docstring."""
    creator = common.require_writer(stub)
    prior = common.replayed_result(stub, contract, fn_name, args)
    if prior is not None:
        if not isinstance(prior, dict):
            raise ChaincodeError("CORRUPT_STATE", "remembered result is not an object")
        return prior
    tx = TxState(stub)
    event_type, result = body(tx, creator)
    changes = tx.flush(event_type)
    common.emit(stub, event_type, changes)
    common.remember_result(stub, contract, fn_name, args, result)
    return result


# --- argument helpers shared by both contracts ----------------------------------


def integer(value: Any, name: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    """An integer in `[minimum, maximum]`; floats, strings and bools are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ChaincodeError("BAD_ARGUMENT", f"{name} must be an integer")
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and ≤ {maximum}"
        raise ChaincodeError("BAD_ARGUMENT", f"{name} must be ≥ {minimum}{upper}, got {value}")
    return value


def obj(args: JsonObject, name: str, *, required: bool = True) -> JsonObject | None:
    value = args.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, dict):
        raise ChaincodeError("BAD_ARGUMENT", f"{name} must be a JSON object")
    return value


def require_obj(args: JsonObject, name: str) -> JsonObject:
    value = obj(args, name)
    assert value is not None  # obj raises when required and missing
    return value


def known_party(stub: Stub, mspid: str, name: str) -> str:
    """An MSP id of the channel that may hold assets (any kind but regulator)."""
    kind = common.kind_of(stub, mspid)
    if kind is None:
        raise ChaincodeError("UNKNOWN_PARTY", f"{name}={mspid!r} is not an org of this channel")
    if kind == "regulator":
        raise ChaincodeError("BAD_ARGUMENT", f"{name}={mspid!r}: the regulator holds nothing")
    return mspid
