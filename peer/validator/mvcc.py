"""MVCC and phantom-read validation of one block, in block order (Fabric's
`validator/internal` and `rangequery_validator`).

For each transaction not already invalid, in block order:

1. MVCC_READ_CONFLICT if a key it read was written (or deleted) by an earlier VALID
   transaction of this block, or if the key's committed version differs from the
   version read (a read of a missing key carries no version and matches only a
   key that is still missing).
2. PHANTOM_READ_CONFLICT if re-running one of its range queries `[start, end)` over
   committed state overlaid with the writes of earlier VALID transactions of the
   block does not give exactly the keys and versions it recorded. When the query
   was not read to the end, only keys up to the last one read are compared.
3. Otherwise VALID, and its writes join the block's pending updates, against which
   later transactions are checked.

Codes are Fabric's `TxValidationCode` numbers. Committed state must not change
during the call (the committer is the only writer and commits after validating).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from chaincode.stub import Timestamp
from peer.ledger.rwset import NsRWSet, RangeQuery, TxRWSet
from peer.ledger.types import TxId, TxWrites, Version, VersionedValue, Write
from protos.peer import transaction_pb2

VALID = transaction_pb2.VALID
MVCC_READ_CONFLICT = transaction_pb2.MVCC_READ_CONFLICT
PHANTOM_READ_CONFLICT = transaction_pb2.PHANTOM_READ_CONFLICT


class CommittedState(Protocol):
    """The committed state MVCC checks against (a ledger or a snapshot of it)."""

    def get_state(self, namespace: str, key: str) -> VersionedValue | None: ...

    def range(self, namespace: str, start: str, end: str) -> Iterator[tuple[str, VersionedValue]]:
        """Keys in `[start, end)` ascending; empty `end` = to the namespace's end."""
        ...


@dataclass(frozen=True)
class BlockTx:
    """One transaction of the block as MVCC sees it.

    `code` is the verdict of the earlier checks (signatures, endorsement policy,
    duplicate txid...): anything but VALID is kept as is and the tx is skipped.
    `rwset` is empty for transactions without one (e.g. config transactions).
    """

    tx_id: TxId
    timestamp: Timestamp
    rwset: TxRWSet
    code: int = VALID


@dataclass(frozen=True)
class MvccResult:
    """One code per transaction, and the writes of the VALID ones in block order
    (what `Ledger.commit` takes)."""

    codes: tuple[int, ...]
    writes: tuple[TxWrites, ...]

    def state_updates(self) -> dict[tuple[str, str], bytes | None]:
        """The block's combined updates, (namespace, key) → value or None (deleted);
        the last VALID writer of a key wins."""
        updates: dict[tuple[str, str], bytes | None] = {}
        for tx in self.writes:
            for write in tx.writes:
                updates[(write.namespace, write.key)] = write.value
        return updates


class _Pending:
    """Updates of the VALID transactions so far: key → version written, or None if
    deleted; plus each namespace's updated keys, sorted, for range overlays."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, str], Version | None] = {}
        self.sorted_keys: dict[str, list[str]] = {}

    def add(self, write: Write, version: Version) -> None:
        name = (write.namespace, write.key)
        if name not in self.versions:
            bisect.insort(self.sorted_keys.setdefault(write.namespace, []), write.key)
        self.versions[name] = None if write.value is None else version

    def keys_in(self, namespace: str, start: str, end: str) -> list[str]:
        keys = self.sorted_keys.get(namespace, [])
        lo = bisect.bisect_left(keys, start)
        hi = bisect.bisect_left(keys, end) if end else len(keys)
        return keys[lo:hi]


def validate_block(block_num: int, txs: Sequence[BlockTx], state: CommittedState) -> MvccResult:
    """Validate the block's transactions in order; see the module docstring."""
    pending = _Pending()
    codes: list[int] = []
    writes: list[TxWrites] = []
    for tx_num, tx in enumerate(txs):
        code = tx.code if tx.code != VALID else _check(tx.rwset, state, pending)
        codes.append(code)
        if code != VALID:
            continue
        version = Version(block_num, tx_num)
        tx_writes = tx.rwset.writes()
        for write in tx_writes:
            pending.add(write, version)
        writes.append(TxWrites(tx_num, tx.tx_id, tx.timestamp, tx_writes))
    return MvccResult(tuple(codes), tuple(writes))


def _check(rwset: TxRWSet, state: CommittedState, pending: _Pending) -> int:
    for ns in rwset.namespaces:
        if not _reads_ok(ns, state, pending):
            return MVCC_READ_CONFLICT
    for ns in rwset.namespaces:
        for query in ns.range_queries:
            if not _range_ok(ns.namespace, query, state, pending):
                return PHANTOM_READ_CONFLICT
    return VALID


def _reads_ok(ns: NsRWSet, state: CommittedState, pending: _Pending) -> bool:
    for read in ns.reads:
        if (ns.namespace, read.key) in pending.versions:
            return False
        committed = state.get_state(ns.namespace, read.key)
        if (committed.version if committed is not None else None) != read.version:
            return False
    return True


def _range_ok(namespace: str, query: RangeQuery, state: CommittedState, pending: _Pending) -> bool:
    end = query.end
    if not query.exhausted:
        if not query.reads:
            return True
        # Keys <= the last key read: nothing sorts between `last` and `last + \0`.
        through_last = query.reads[-1].key + "\x00"
        if not end or through_last < end:
            end = through_last
    found: dict[str, Version | None] = {
        key: versioned.version for key, versioned in state.range(namespace, query.start, end)
    }
    for key in pending.keys_in(namespace, query.start, end):
        found[key] = pending.versions[(namespace, key)]
    actual = [(key, found[key]) for key in sorted(found) if found[key] is not None]
    expected = [(read.key, read.version) for read in query.reads]
    return actual == expected
