"""The ledger's domain values, its error type and the `Ledger` protocol.

Versions and heights are `(block_num, tx_num)` pairs ordered lexicographically: a
committed value's version is the position of the transaction that wrote it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NewType, Protocol

from chaincode.stub import KeyModification, Timestamp
from common.blockstore import TxLocation
from common.errors import ScfError
from protos.common import common_pb2

Namespace = NewType("Namespace", str)
"""A chaincode name: state, history and read/write sets are partitioned by it."""

TxId = NewType("TxId", str)

NO_COMMIT_HASH = bytes(32)
"""The 'previous commit hash' of block 0."""


class LedgerError(ScfError):
    """A system fault of the ledger (corrupt or inconsistent storage, misuse).

    Invalid transactions are never reported this way: they are validation codes.
    """

    code = "LEDGER"


@dataclass(frozen=True, order=True)
class Version:
    """Where a committed value was written: transaction `tx_num` of block `block_num`."""

    block_num: int
    tx_num: int


@dataclass(frozen=True, order=True)
class Height:
    """The savepoint: block `block_num` and all `tx_count` of its transactions are
    committed; the ledger holds blocks `[0, block_num + 1)`."""

    block_num: int
    tx_count: int


@dataclass(frozen=True)
class VersionedValue:
    """A committed value and the version that wrote it."""

    value: bytes
    version: Version


@dataclass(frozen=True)
class Write:
    """One key written by a transaction; `value is None` deletes the key."""

    namespace: Namespace
    key: str
    value: bytes | None

    @property
    def is_delete(self) -> bool:
        return self.value is None


@dataclass(frozen=True)
class TxWrites:
    """The writes of one VALID transaction, as the committer applies them.

    `tx_num` is the transaction's position in its block. When `writes` names a key
    more than once the last write wins (a well-formed write set never does).
    `tx_id` and `timestamp` are kept in the key history.
    """

    tx_num: int
    tx_id: TxId
    timestamp: Timestamp
    writes: tuple[Write, ...]


class LedgerSnapshot(Protocol):
    """A consistent, read-only view of committed state at one height.

    Every read answers from the same committed height, even while blocks commit
    concurrently. Close it (or use it as a context manager) to release it.
    """

    def height(self) -> int: ...

    def get_state(self, namespace: str, key: str) -> VersionedValue | None: ...

    def range(self, namespace: str, start: str, end: str) -> Iterator[tuple[str, VersionedValue]]:
        """Keys in `[start, end)` ascending (by UTF-8 bytes = code points); an empty
        `end` means to the end of the namespace."""
        ...

    def history(self, namespace: str, key: str) -> list[KeyModification]:
        """Every committed change of the key, oldest first."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> LedgerSnapshot: ...

    def __exit__(self, *exc: object) -> None: ...


class Ledger(Protocol):
    """One channel's ledger: blocks, tx index, versioned state, history, savepoint
    and per-block commit hashes. One writer (the committer) calls `commit`; any
    number of readers may read concurrently."""

    def height(self) -> int:
        """Number of committed blocks; the next block to commit has this number."""
        ...

    def savepoint(self) -> Height | None: ...

    def get_state(self, namespace: str, key: str) -> VersionedValue | None: ...

    def range(self, namespace: str, start: str, end: str) -> Iterator[tuple[str, VersionedValue]]:
        """Committed keys in `[start, end)` ascending; empty `end` = namespace end."""
        ...

    def history(self, namespace: str, key: str) -> list[KeyModification]: ...

    def commit_hash(self, block_num: int) -> bytes | None: ...

    def tx_location(self, txid: str) -> TxLocation | None: ...

    def state_hash(self) -> bytes: ...

    def block(self, number: int) -> common_pb2.Block | None: ...

    def block_bytes(self, number: int) -> bytes | None: ...

    def blocks(self, start: int, stop: int | None = None) -> Iterator[common_pb2.Block]: ...

    def snapshot(self) -> LedgerSnapshot: ...

    def commit(
        self, block: common_pb2.Block, codes: Sequence[int], txs: Sequence[TxWrites]
    ) -> bytes:
        """Commit `block` atomically with the effects of its valid transactions and
        return its commit hash. Fills the block's TRANSACTIONS_FILTER and COMMIT_HASH
        metadata slots in place before storing it."""
        ...

    def close(self) -> None: ...
