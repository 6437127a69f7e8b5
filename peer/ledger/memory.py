"""An in-memory `Ledger` with the same behaviour as `LevelLedger`, for unit tests of
the layers above it (endorser, validator, committer, gateway).

It shares `peer.ledger.codec` with the LevelDB ledger, so the two give identical
commit hashes and state hashes for the same blocks. Snapshots copy the state (cheap
at test sizes); a commit swaps in new containers under a lock, so a snapshot or a
running `range` never sees half a block.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator, Sequence

from chaincode.stub import KeyModification
from common.blockstore import BlockStoreError, MemoryBlockStore, TxLocation
from peer.ledger import codec
from peer.ledger.types import NO_COMMIT_HASH, Height, LedgerError, TxWrites, VersionedValue
from protos.common import common_pb2


class _State:
    """Committed state at one height, never mutated once published.

    `values` maps the `st/` storage key to (namespace, key, value); `order` holds the
    storage keys sorted, so ranges and the state hash follow LevelDB's order.
    """

    def __init__(
        self,
        values: dict[bytes, tuple[str, str, VersionedValue]],
        order: list[bytes],
        history: dict[tuple[str, str], list[KeyModification]],
        savepoint: Height | None,
    ) -> None:
        self.values = values
        self.order = order
        self.history = history
        self.savepoint = savepoint

    def get_state(self, namespace: str, key: str) -> VersionedValue | None:
        entry = self.values.get(codec.state_key(namespace, key))
        return entry[2] if entry is not None else None

    def range(self, namespace: str, start: str, end: str) -> Iterator[tuple[str, VersionedValue]]:
        prefix = codec.STATE_PREFIX + codec.namespace_prefix(namespace)
        lo = prefix + codec.utf8(start, "key")
        hi = prefix + codec.utf8(end, "key") if end else codec.upper_bound(prefix)
        first = bisect.bisect_left(self.order, lo)
        last = bisect.bisect_left(self.order, hi)
        for storage_key in self.order[first:last]:
            _, key, versioned = self.values[storage_key]
            yield key, versioned

    def history_of(self, namespace: str, key: str) -> list[KeyModification]:
        return list(self.history.get((namespace, key), ()))

    def state_hash(self) -> bytes:
        return codec.state_hash(self.values[k] for k in self.order)


class MemorySnapshot:
    """A `LedgerSnapshot` of a `MemoryLedger`."""

    def __init__(self, state: _State) -> None:
        self._state = state

    def height(self) -> int:
        savepoint = self._state.savepoint
        return savepoint.block_num + 1 if savepoint is not None else 0

    def get_state(self, namespace: str, key: str) -> VersionedValue | None:
        return self._state.get_state(namespace, key)

    def range(self, namespace: str, start: str, end: str) -> Iterator[tuple[str, VersionedValue]]:
        return self._state.range(namespace, start, end)

    def history(self, namespace: str, key: str) -> list[KeyModification]:
        return self._state.history_of(namespace, key)

    def state_hash(self) -> bytes:
        return self._state.state_hash()

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> MemorySnapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MemoryLedger:
    """A `Ledger` held in memory."""

    def __init__(self) -> None:
        self._blocks = MemoryBlockStore()
        self._state = _State({}, [], {}, None)
        self._commit_hashes: list[bytes] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        """Nothing to release."""

    def height(self) -> int:
        return self._blocks.height()

    def savepoint(self) -> Height | None:
        return self._state.savepoint

    def get_state(self, namespace: str, key: str) -> VersionedValue | None:
        return self._state.get_state(namespace, key)

    def range(self, namespace: str, start: str, end: str) -> Iterator[tuple[str, VersionedValue]]:
        return self._state.range(namespace, start, end)

    def history(self, namespace: str, key: str) -> list[KeyModification]:
        return self._state.history_of(namespace, key)

    def commit_hash(self, block_num: int) -> bytes | None:
        hashes = self._commit_hashes
        return hashes[block_num] if 0 <= block_num < len(hashes) else None

    def tx_location(self, txid: str) -> TxLocation | None:
        return self._blocks.tx_location(txid)

    def state_hash(self) -> bytes:
        return self._state.state_hash()

    def block(self, number: int) -> common_pb2.Block | None:
        return self._blocks.block(number)

    def block_bytes(self, number: int) -> bytes | None:
        return self._blocks.block_bytes(number)

    def blocks(self, start: int, stop: int | None = None) -> Iterator[common_pb2.Block]:
        return self._blocks.blocks(start, stop)

    def snapshot(self) -> MemorySnapshot:
        return MemorySnapshot(self._state)

    def commit(
        self, block: common_pb2.Block, codes: Sequence[int], txs: Sequence[TxWrites]
    ) -> bytes:
        with self._lock:
            previous = self._commit_hashes[-1] if self._commit_hashes else NO_COMMIT_HASH
            prepared = codec.prepare_commit(block, codes, txs, self.height(), previous)
            state = self._apply(prepared)
            try:
                self._blocks.append(block)
            except BlockStoreError as exc:
                raise LedgerError(str(exc), code=exc.code) from None
            # Publish state only once the block is stored, as one reference swap.
            self._state = state
            self._commit_hashes.append(prepared.commit_hash)
            return prepared.commit_hash

    def _apply(self, prepared: codec.PreparedCommit) -> _State:
        old = self._state
        values = dict(old.values)
        added: list[bytes] = []
        removed: set[bytes] = set()
        for (namespace, key), versioned in prepared.updates.items():
            storage_key = codec.state_key(namespace, key)
            if versioned is None:
                if values.pop(storage_key, None) is not None:
                    removed.add(storage_key)
            else:
                if storage_key not in values:
                    added.append(storage_key)
                values[storage_key] = (namespace, key, versioned)
        order = [k for k in old.order if k not in removed] if removed else list(old.order)
        for storage_key in added:
            bisect.insort(order, storage_key)
        history = dict(old.history)
        for entry in prepared.history:
            name = (entry.namespace, entry.key)
            history[name] = [*history.get(name, ()), entry.change]
        return _State(values, order, history, prepared.savepoint)
