"""The transaction simulator: the `Stub` a contract runs against at endorsement.

A `TxSimulator` runs one transaction of one chaincode (its namespace) over a
consistent snapshot of committed state. It keeps Fabric's rules:

* Reads see the snapshot only, never this transaction's writes.
* Each key read is recorded once with the version it had (no version when it did
  not exist); range queries are recorded as `[start, end)` with the keys they
  returned, in the order they were run, and whether the caller read to the end.
  Keys seen through a range are not also point reads (as in Fabric).
* Writes are buffered; the last write of a key wins. `put_state` with an empty
  value is a delete (Fabric's `len(value) == 0` rule).
* `set_event` keeps the last event.

`results()` returns the canonical read/write set (see `peer.ledger.rwset`) and the
`ChaincodeEvent`, both as Fabric bytes, so two endorsers simulating the same
proposal on the same state produce byte-identical results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from chaincode.errors import ChaincodeError
from chaincode.stub import Creator, KeyModification, Timestamp
from peer.ledger import rwset
from peer.ledger.types import Namespace, TxId, VersionedValue, Write
from protos.peer import chaincode_event_pb2

SignatureCheck = Callable[[bytes, bytes, bytes], Creator]
"""`(serialized identity, data, signature) -> Creator`; raises `ChaincodeError`."""


class StateSnapshot(Protocol):
    """Committed state at one height, as the simulator reads it."""

    def get_state(self, namespace: str, key: str) -> VersionedValue | None: ...

    def range(self, namespace: str, start: str, end: str) -> Iterator[tuple[str, VersionedValue]]:
        """Keys in `[start, end)` ascending; empty `end` = to the namespace's end."""
        ...

    def history(self, namespace: str, key: str) -> list[KeyModification]: ...


@dataclass(frozen=True)
class TxContext:
    """What the endorser knows about the proposal, handed to the contract."""

    tx_id: TxId
    timestamp: Timestamp
    creator: Creator
    check_signature: SignatureCheck
    channel_config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    name: str
    payload: bytes


@dataclass(frozen=True)
class SimulationResult:
    """The outcome of a simulation.

    `rwset_bytes` is a serialised Fabric `TxReadWriteSet` (canonical form) and
    `event_bytes` a serialised `ChaincodeEvent`, or empty when none was set; both
    go into the proposal response's `ChaincodeAction` as they are.
    """

    rwset: rwset.TxRWSet
    rwset_bytes: bytes
    event: Event | None
    event_bytes: bytes


@dataclass
class _Range:
    start: str
    end: str
    reads: list[rwset.Read]
    exhausted: bool = False


class TxSimulator:
    """A `chaincode.stub.Stub` for one transaction of chaincode `namespace`.

    Not thread-safe: one simulator serves one contract call. The snapshot must stay
    open until the contract is done; the caller owns (and closes) it.
    """

    def __init__(self, snapshot: StateSnapshot, namespace: str, context: TxContext) -> None:
        self._snapshot = snapshot
        self._namespace = Namespace(namespace)
        self._context = context
        self._reads: dict[str, rwset.Read] = {}
        self._ranges: list[_Range] = []
        self._writes: dict[str, bytes | None] = {}
        self._event: Event | None = None

    # -- state ---------------------------------------------------------------

    def get_state(self, key: str) -> bytes | None:
        _check_key(key)
        found = self._snapshot.get_state(self._namespace, key)
        if key not in self._reads:
            self._reads[key] = rwset.Read(key, found.version if found is not None else None)
        return found.value if found is not None else None

    def put_state(self, key: str, value: bytes) -> None:
        _check_key(key)
        self._writes[key] = bytes(value) if value else None

    def del_state(self, key: str) -> None:
        _check_key(key)
        self._writes[key] = None

    def get_state_by_range(self, start: str, end: str) -> Iterator[tuple[str, bytes]]:
        """Committed keys in `[start, end)`; recorded as a range query as it is read."""
        for bound in (start, end):
            if bound:
                _check_key(bound)
        record = _Range(start, end, [])
        self._ranges.append(record)
        return self._iterate(record)

    def _iterate(self, record: _Range) -> Iterator[tuple[str, bytes]]:
        for key, versioned in self._snapshot.range(self._namespace, record.start, record.end):
            record.reads.append(rwset.Read(key, versioned.version))
            yield key, versioned.value
        record.exhausted = True

    def get_history_for_key(self, key: str) -> Iterator[KeyModification]:
        """Committed history, oldest first; not recorded (Fabric does not validate it)."""
        _check_key(key)
        return iter(self._snapshot.history(self._namespace, key))

    # -- transaction context -------------------------------------------------

    def set_event(self, name: str, payload: bytes) -> None:
        if not name:
            raise ChaincodeError("INVALID_EVENT", "event name must not be empty")
        self._event = Event(name, bytes(payload))

    def get_creator(self) -> Creator:
        return self._context.creator

    def get_tx_id(self) -> str:
        return self._context.tx_id

    def get_tx_timestamp(self) -> Timestamp:
        return self._context.timestamp

    def get_channel_config_value(self, name: str) -> str | None:
        return self._context.channel_config.get(name)

    def check_signature(self, identity: bytes, data: bytes, signature: bytes) -> Creator:
        return self._context.check_signature(identity, data, signature)

    # -- results -------------------------------------------------------------

    def results(self) -> SimulationResult:
        """The read/write set and event recorded so far (canonical, deterministic).

        A namespace that was neither read nor written contributes no `NsReadWriteSet`.
        A range iterator the contract abandoned is recorded with the keys it yielded
        and `exhausted = False`.
        """
        ns = rwset.NsRWSet(
            namespace=self._namespace,
            reads=tuple(self._reads[k] for k in sorted(self._reads)),
            range_queries=tuple(
                rwset.RangeQuery(r.start, r.end, r.exhausted, tuple(r.reads)) for r in self._ranges
            ),
            writes=tuple(Write(self._namespace, k, self._writes[k]) for k in sorted(self._writes)),
        )
        touched = bool(ns.reads or ns.range_queries or ns.writes)
        tx_rwset = rwset.TxRWSet((ns,) if touched else ())
        event_bytes = b""
        if self._event is not None:
            event_bytes = chaincode_event_pb2.ChaincodeEvent(
                chaincode_id=self._namespace,
                tx_id=self._context.tx_id,
                event_name=self._event.name,
                payload=self._event.payload,
            ).SerializeToString(deterministic=True)
        return SimulationResult(
            rwset=tx_rwset,
            rwset_bytes=rwset.encode(tx_rwset),
            event=self._event,
            event_bytes=event_bytes,
        )


def _check_key(key: str) -> None:
    """Fabric refuses empty keys and keys that are not valid UTF-8."""
    if not key:
        raise ChaincodeError("INVALID_KEY", "key must not be empty")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise ChaincodeError("INVALID_KEY", f"key {key!r} is not valid UTF-8") from None


__all__ = [
    "Event",
    "SignatureCheck",
    "SimulationResult",
    "StateSnapshot",
    "TxContext",
    "TxSimulator",
]
