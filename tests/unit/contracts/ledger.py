"""An in-memory ledger that runs contracts the way a Fabric peer does.

`TestLedger` keeps committed world state with versions `(block, tx)`, per-key
history and committed chaincode events. A call is simulated against committed
state only: reads record the version they saw, writes are buffered, and a
transaction never sees its own writes. Committing a block applies MVCC in order:
a transaction whose read versions (or range-query results) changed since
simulation is marked `MVCC_READ_CONFLICT` (or `PHANTOM_READ_CONFLICT`) and writes
nothing; a valid one applies its write set, its history and its event.

* `invoke(...)` = simulate + commit a one-transaction block; returns the decoded
  JSON result. A `ChaincodeError` during simulation commits nothing and is re-raised.
* `simulate(...)` + `commit_block([...])` drive concurrent transactions
  (DOMAIN §8 scenario 18).
* `state_hash()` is SHA-256 over the sorted committed key/value pairs, for
  "ledger unchanged" checks.
* `check_signature` verifies real ECDSA-P256/SHA-256 signatures over identities
  registered with `new_identity` (the test's stand-in for the channel MSPs).

Transaction ids are deterministic: `tx` + a zero-padded counter in hex.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chaincode.contract import Contract, canonical_json
from chaincode.errors import ChaincodeError
from chaincode.stub import Creator, KeyModification, Timestamp

Version = tuple[int, int]
"""(block number, transaction index) of the write that produced a value."""

DEFAULT_ORG_KINDS: Mapping[str, str] = {
    "CoreMSP": "core",
    "Supplier1MSP": "supplier",
    "Supplier2MSP": "supplier",
    "Supplier3MSP": "supplier",
    "BankMSP": "bank",
    "Bank2MSP": "bank",
    "WarehouseMSP": "warehouse",
    "RegulatorMSP": "regulator",
    "GovFundMSP": "govfund",
}
DEFAULT_GOVERNANCE_APPROVERS = ("CoreMSP", "RegulatorMSP")

PLATFORM_TZ = dt.timezone(dt.timedelta(hours=8))

VALID = "VALID"
MVCC_READ_CONFLICT = "MVCC_READ_CONFLICT"
PHANTOM_READ_CONFLICT = "PHANTOM_READ_CONFLICT"


def timestamp_on(date: dt.date | str, hour: int = 10) -> Timestamp:
    """A transaction timestamp at `hour`:00 Asia/Shanghai on `date`."""
    day = dt.date.fromisoformat(date) if isinstance(date, str) else date
    moment = dt.datetime(day.year, day.month, day.day, hour, tzinfo=PLATFORM_TZ)
    return Timestamp(int(moment.timestamp()))


class Clock:
    """The business date used for transactions that don't pass `ts` explicitly."""

    def __init__(self, today: dt.date | str = "2025-07-01") -> None:
        self.today = dt.date.fromisoformat(today) if isinstance(today, str) else today

    def set(self, today: dt.date | str) -> None:
        self.today = dt.date.fromisoformat(today) if isinstance(today, str) else today

    def advance(self, days: int) -> dt.date:
        self.today = self.today + dt.timedelta(days=days)
        return self.today

    def plus(self, days: int) -> str:
        """ISO date `days` after today (for maturities etc.)."""
        return (self.today + dt.timedelta(days=days)).isoformat()

    def now(self) -> Timestamp:
        return timestamp_on(self.today)


@dataclass(frozen=True)
class Identity:
    """A registered signing identity: `serialized` is what an approval carries."""

    creator: Creator
    serialized: bytes
    private_key: ec.EllipticCurvePrivateKey

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data, ec.ECDSA(hashes.SHA256()))


@dataclass
class PendingTx:
    """A simulated, not yet committed transaction (a proposal response)."""

    tx_id: str
    creator: Creator
    timestamp: Timestamp
    read_set: dict[str, Version | None]
    range_reads: list[tuple[str, str, list[tuple[str, Version]]]]
    write_set: dict[str, bytes | None]
    event: tuple[str, bytes] | None
    result: Any
    status: str | None = None


@dataclass(frozen=True)
class CommittedEvent:
    tx_id: str
    name: str
    payload: Any


@dataclass(frozen=True)
class CommittedTx:
    tx_id: str
    creator: Creator
    status: str
    writes: Mapping[str, bytes | None]


class _SimulationStub:
    """The `Stub` a contract sees during one simulation."""

    def __init__(
        self, ledger: TestLedger, tx_id: str, creator: Creator, timestamp: Timestamp
    ) -> None:
        self._ledger = ledger
        self._tx_id = tx_id
        self._creator = creator
        self._timestamp = timestamp
        self.read_set: dict[str, Version | None] = {}
        self.range_reads: list[tuple[str, str, list[tuple[str, Version]]]] = []
        self.write_set: dict[str, bytes | None] = {}
        self.event: tuple[str, bytes] | None = None

    def get_state(self, key: str) -> bytes | None:
        entry = self._ledger._state.get(key)
        self.read_set.setdefault(key, entry[1] if entry else None)
        return entry[0] if entry else None

    def put_state(self, key: str, value: bytes) -> None:
        if not key:
            raise ValueError("empty key")
        self.write_set[key] = bytes(value)

    def del_state(self, key: str) -> None:
        self.write_set[key] = None

    def get_state_by_range(self, start: str, end: str) -> Iterator[tuple[str, bytes]]:
        rows = self._ledger._range(start, end)
        self.range_reads.append((start, end, [(k, ver) for k, (_, ver) in rows]))
        return iter([(k, value) for k, (value, _) in rows])

    def get_history_for_key(self, key: str) -> Iterator[KeyModification]:
        return iter(list(self._ledger._history.get(key, [])))

    def set_event(self, name: str, payload: bytes) -> None:
        self.event = (name, bytes(payload))

    def get_creator(self) -> Creator:
        return self._creator

    def get_tx_id(self) -> str:
        return self._tx_id

    def get_tx_timestamp(self) -> Timestamp:
        return self._timestamp

    def get_channel_config_value(self, name: str) -> str | None:
        return self._ledger.config.get(name)

    def check_signature(self, identity: bytes, data: bytes, signature: bytes) -> Creator:
        return self._ledger.check_signature(identity, data, signature)


class TestLedger:
    """Committed state + history + events, with Fabric's simulate/validate/commit."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        *,
        org_kinds: Mapping[str, str] | None = None,
        governance_approvers: list[str] | None = None,
        policy_parameters: Mapping[str, Any] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config: dict[str, str] = {
            "org_kinds": json.dumps(dict(org_kinds or DEFAULT_ORG_KINDS)),
            "governance_approvers": json.dumps(
                list(governance_approvers or DEFAULT_GOVERNANCE_APPROVERS)
            ),
            "policy_parameters": json.dumps(dict(policy_parameters or {})),
        }
        self.clock = clock or Clock()
        self.identities: dict[bytes, tuple[Creator, ec.EllipticCurvePublicKey]] = {}
        self.events: list[CommittedEvent] = []
        self.transactions: list[CommittedTx] = []
        self._state: dict[str, tuple[bytes, Version]] = {}
        self._history: dict[str, list[KeyModification]] = {}
        self._block = 0
        self._tx_counter = 0

    # --- configuration and identities -------------------------------------------

    def set_policy_parameters(self, params: Mapping[str, Any]) -> None:
        """Genesis policy parameters (`policy_parameters` in the channel config)."""
        self.config["policy_parameters"] = json.dumps(dict(params))

    def new_identity(self, creator: Creator, seed: int | None = None) -> Identity:
        """Register a signing identity the channel's 'MSPs' will recognise.

        The serialized form is canonical JSON of the creator and its public key
        (a stand-in for Fabric's `SerializedIdentity`). `seed` makes the key
        deterministic; without it the key is derived from the creator's fields.
        """
        material = f"{creator.mspid}/{creator.enrollment_id}/{creator.role}/{seed}"
        scalar = int.from_bytes(hashlib.sha256(material.encode()).digest(), "big")
        private_key = ec.derive_private_key(scalar % (2**255) + 1, ec.SECP256R1())
        pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        serialized = canonical_json(
            {
                "mspid": creator.mspid,
                "id": creator.enrollment_id,
                "role": creator.role,
                "attrs": dict(creator.attributes),
                "pem": pem.decode(),
            }
        )
        self.identities[serialized] = (creator, private_key.public_key())
        return Identity(creator, serialized, private_key)

    def check_signature(self, identity: bytes, data: bytes, signature: bytes) -> Creator:
        known = self.identities.get(bytes(identity))
        if known is None:
            raise ChaincodeError("INVALID_SIGNATURE", "identity is not issued by a channel MSP")
        creator, public_key = known
        try:
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise ChaincodeError(
                "INVALID_SIGNATURE", f"bad signature by {creator.mspid}/{creator.enrollment_id}"
            ) from None
        return creator

    # --- running transactions -----------------------------------------------------

    def simulate(
        self,
        contract: Contract,
        fn: str,
        args: Mapping[str, Any] | None,
        *,
        creator: Creator,
        ts: Timestamp | dt.date | str | None = None,
    ) -> PendingTx:
        """Endorse: run `fn` against committed state; nothing is committed.

        Raises `ChaincodeError` when the contract rejects the call.
        """
        self._tx_counter += 1
        tx_id = f"tx{self._tx_counter:06x}"
        timestamp = self._timestamp(ts)
        stub = _SimulationStub(self, tx_id, creator, timestamp)
        raw = contract.invoke(stub, fn, [canonical_json(dict(args or {}))])
        return PendingTx(
            tx_id=tx_id,
            creator=creator,
            timestamp=timestamp,
            read_set=stub.read_set,
            range_reads=stub.range_reads,
            write_set=stub.write_set,
            event=stub.event,
            result=json.loads(raw),
        )

    def commit_block(self, txs: list[PendingTx]) -> list[str]:
        """Validate (MVCC, in order) and commit; return each tx's validation code."""
        self._block += 1
        codes: list[str] = []
        for index, tx in enumerate(txs):
            code = self._validate(tx)
            tx.status = code
            codes.append(code)
            self.transactions.append(CommittedTx(tx.tx_id, tx.creator, code, dict(tx.write_set)))
            if code != VALID:
                continue
            version = (self._block, index)
            for key, value in sorted(tx.write_set.items()):
                if value is None:
                    self._state.pop(key, None)
                else:
                    self._state[key] = (value, version)
                self._history.setdefault(key, []).append(
                    KeyModification(tx.tx_id, value or b"", tx.timestamp, value is None)
                )
            if tx.event is not None:
                name, payload = tx.event
                self.events.append(CommittedEvent(tx.tx_id, name, json.loads(payload)))
        return codes

    def invoke(
        self,
        contract: Contract,
        fn: str,
        args: Mapping[str, Any] | None = None,
        *,
        creator: Creator,
        ts: Timestamp | dt.date | str | None = None,
    ) -> Any:
        """Simulate and commit alone in a block; return the decoded result."""
        tx = self.simulate(contract, fn, args, creator=creator, ts=ts)
        (code,) = self.commit_block([tx])
        if code != VALID:  # cannot happen for a lone transaction
            raise AssertionError(f"{fn} committed as {code}")
        return tx.result

    def query(
        self,
        contract: Contract,
        fn: str,
        args: Mapping[str, Any] | None = None,
        *,
        creator: Creator,
        ts: Timestamp | dt.date | str | None = None,
    ) -> Any:
        """Evaluate: simulate and discard (nothing is ordered)."""
        return self.simulate(contract, fn, args, creator=creator, ts=ts).result

    # --- inspection ---------------------------------------------------------------

    def get(self, key: str) -> Any:
        """The committed value of `key`, JSON-decoded (None when absent)."""
        entry = self._state.get(key)
        return json.loads(entry[0]) if entry else None

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self._state if k.startswith(prefix))

    def state_hash(self) -> str:
        digest = hashlib.sha256()
        for key in sorted(self._state):
            value = self._state[key][0]
            for part in (key.encode(), value):
                digest.update(len(part).to_bytes(8, "big"))
                digest.update(part)
        return digest.hexdigest()

    def events_of(self, event_type: str) -> list[Any]:
        """Payloads of committed events named `event_type`, or carrying an alert
        `{"type": event_type, ...}` in their `alerts` list."""
        found: list[Any] = []
        for event in self.events:
            payload = event.payload
            alerts = payload.get("alerts", []) if isinstance(payload, dict) else []
            if event.name == event_type or any(
                isinstance(a, dict) and a.get("type") == event_type for a in alerts
            ):
                found.append(payload)
        return found

    # --- internals ------------------------------------------------------------------

    def _timestamp(self, ts: Timestamp | dt.date | str | None) -> Timestamp:
        if ts is None:
            return self.clock.now()
        if isinstance(ts, Timestamp):
            return ts
        return timestamp_on(ts)

    def _range(self, start: str, end: str) -> list[tuple[str, tuple[bytes, Version]]]:
        keys = sorted(k for k in self._state if k >= start and (not end or k < end))
        return [(k, self._state[k]) for k in keys]

    def _validate(self, tx: PendingTx) -> str:
        for key, seen in tx.read_set.items():
            entry = self._state.get(key)
            if (entry[1] if entry else None) != seen:
                return MVCC_READ_CONFLICT
        for start, end, rows in tx.range_reads:
            now = [(k, ver) for k, (_, ver) in self._range(start, end)]
            if now != rows:
                return PHANTOM_READ_CONFLICT
        return VALID


def creator_of(
    mspid: str, role: str = "client", enrollment_id: str | None = None, **attrs: str
) -> Creator:
    """A creator with a readable default enrollment id."""
    return Creator(mspid, role, enrollment_id or f"{role}@{mspid}", dict(attrs))


__all__ = [
    "MVCC_READ_CONFLICT",
    "PHANTOM_READ_CONFLICT",
    "VALID",
    "Clock",
    "CommittedEvent",
    "CommittedTx",
    "Identity",
    "PendingTx",
    "TestLedger",
    "creator_of",
    "timestamp_on",
]
