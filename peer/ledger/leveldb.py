"""A channel's ledger in one plyvel database (key layout: `peer.ledger.codec`).

Commit is one `LevelBlockStore.append(block, extra=...)`, that is one
`WriteBatch(sync=True)` holding the block, its tx index, the state updates, the
history entries, the commit hash and the savepoint. After a crash the database
holds either all of a block's effects or none of them, so on open the savepoint
and the block store's height must agree: the savepoint names block `h - 1` when
the block store holds `h` blocks. Anything else is reported, never repaired.

Readers never block the committer: single-key reads are atomic, every iterator
reads from the implicit snapshot taken when it is created, and `snapshot()` pins
one committed height for a whole simulation.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import plyvel

from chaincode.stub import KeyModification
from common.blockstore import BLOCK_FILES_DIR, BlockStoreError, LevelBlockStore, TxLocation
from common.crashpoints import crash_point
from common.leveldb import open_db
from peer.ledger import codec
from peer.ledger.types import (
    NO_COMMIT_HASH,
    Height,
    LedgerError,
    TxWrites,
    VersionedValue,
)
from protos.common import common_pb2

_CHANNEL_ID = re.compile(r"^[a-z][a-z0-9.-]{0,248}$")
"""Fabric's channel-name rule; it also keeps the name safe as a directory name."""


def open_channel_ledger(root: str | os.PathLike[str], channel_id: str) -> LevelLedger:
    """Open (creating if needed) the ledger of `channel_id` in `root/channel_id/`."""
    if not _CHANNEL_ID.match(channel_id):
        raise LedgerError(f"invalid channel name {channel_id!r}", code="INVALID_CHANNEL")
    path = Path(root) / channel_id
    path.parent.mkdir(parents=True, exist_ok=True)
    return LevelLedger.open(path)


class _Reader:
    """Reads over a plyvel DB or snapshot (both have `get` and `iterator`)."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def savepoint(self) -> Height | None:
        raw = self._source.get(codec.SAVEPOINT_KEY)
        return codec.decode_height(raw) if raw is not None else None

    def get_state(self, namespace: str, key: str) -> VersionedValue | None:
        raw = self._source.get(codec.state_key(namespace, key))
        return codec.decode_state_value(raw) if raw is not None else None

    def range(self, namespace: str, start: str, end: str) -> Iterator[tuple[str, VersionedValue]]:
        prefix = codec.STATE_PREFIX + codec.namespace_prefix(namespace)
        lo = prefix + codec.utf8(start, "key")
        hi = prefix + codec.utf8(end, "key") if end else codec.upper_bound(prefix)
        if lo >= hi:
            return iter(())
        return self._scan(len(prefix), lo, hi)

    def _scan(self, skip: int, lo: bytes, hi: bytes) -> Iterator[tuple[str, VersionedValue]]:
        with self._source.iterator(start=lo, stop=hi) as iterator:
            for raw_key, raw_value in iterator:
                yield raw_key[skip:].decode(), codec.decode_state_value(raw_value)

    def history(self, namespace: str, key: str) -> list[KeyModification]:
        prefix = codec.history_prefix(namespace, key)
        with self._source.iterator(prefix=prefix, include_key=False) as iterator:
            return [codec.decode_history_value(raw) for raw in iterator]

    def state_hash(self) -> bytes:
        prefix_len = len(codec.STATE_PREFIX)

        def entries() -> Iterator[tuple[str, str, VersionedValue]]:
            with self._source.iterator(prefix=codec.STATE_PREFIX) as iterator:
                for raw_key, raw_value in iterator:
                    ns_len = int.from_bytes(raw_key[prefix_len : prefix_len + 2], "big")
                    ns_end = prefix_len + 2 + ns_len
                    yield (
                        raw_key[prefix_len + 2 : ns_end].decode(),
                        raw_key[ns_end:].decode(),
                        codec.decode_state_value(raw_value),
                    )

        return codec.state_hash(entries())


class LevelSnapshot:
    """A `LedgerSnapshot` over a plyvel snapshot: every read sees one committed height."""

    def __init__(self, db: Any) -> None:
        self._snapshot = db.snapshot()
        self._reader = _Reader(self._snapshot)
        savepoint = self._reader.savepoint()
        self._height = savepoint.block_num + 1 if savepoint is not None else 0

    def height(self) -> int:
        return self._height

    def get_state(self, namespace: str, key: str) -> VersionedValue | None:
        return self._reader.get_state(namespace, key)

    def range(self, namespace: str, start: str, end: str) -> Iterator[tuple[str, VersionedValue]]:
        return self._reader.range(namespace, start, end)

    def history(self, namespace: str, key: str) -> list[KeyModification]:
        return self._reader.history(namespace, key)

    def state_hash(self) -> bytes:
        return self._reader.state_hash()

    def close(self) -> None:
        self._snapshot.close()

    def __enter__(self) -> LevelSnapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LevelLedger:
    """One channel's `Ledger` in a plyvel database it owns, its blocks' bytes in the
    block files in `files_dir`."""

    def __init__(self, db: Any, files_dir: Path) -> None:
        self._db = db
        self._reader = _Reader(db)
        self._commit_lock = threading.Lock()
        try:
            self._blocks = LevelBlockStore(db, files_dir, prefix=codec.BLOCKS_PREFIX)
        except BlockStoreError as exc:
            raise LedgerError(str(exc), code="LEDGER_CORRUPT") from None
        try:
            self._load_savepoint()
        except BaseException:
            self._blocks.close_files()
            raise

    def _load_savepoint(self) -> None:
        self._savepoint = self._reader.savepoint()
        height = self._savepoint.block_num + 1 if self._savepoint is not None else 0
        stored = self._blocks.height()
        if stored > height:
            raise LedgerError(
                f"block store holds {stored} blocks but the savepoint is at height {height}: "
                "a block was stored without its state (this cannot happen with one batch)",
                code="LEDGER_AHEAD_OF_SAVEPOINT",
            )
        if stored < height:
            raise LedgerError(
                f"savepoint is at height {height} but the block store holds {stored} blocks",
                code="LEDGER_CORRUPT",
            )
        self._last_hash = NO_COMMIT_HASH
        if height > 0:
            last = self._db.get(codec.commit_hash_key(height - 1))
            if last is None:
                raise LedgerError(
                    f"commit hash of block {height - 1} is missing", code="LEDGER_CORRUPT"
                )
            self._last_hash = last

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> LevelLedger:
        """Open (creating if needed) the ledger database at `path`."""
        try:
            db = open_db(path)
        except plyvel.Error as exc:
            raise LedgerError(
                f"cannot open ledger at {path}: {exc}", code="LEDGER_UNAVAILABLE"
            ) from None
        try:
            return cls(db, Path(path) / BLOCK_FILES_DIR)
        except BaseException:
            db.close()
            raise

    def close(self) -> None:
        with self._commit_lock:
            self._blocks.close()

    def height(self) -> int:
        return self._blocks.height()

    def savepoint(self) -> Height | None:
        return self._savepoint

    def get_state(self, namespace: str, key: str) -> VersionedValue | None:
        return self._reader.get_state(namespace, key)

    def range(self, namespace: str, start: str, end: str) -> Iterator[tuple[str, VersionedValue]]:
        return self._reader.range(namespace, start, end)

    def history(self, namespace: str, key: str) -> list[KeyModification]:
        return self._reader.history(namespace, key)

    def commit_hash(self, block_num: int) -> bytes | None:
        if block_num < 0:
            return None
        value: bytes | None = self._db.get(codec.commit_hash_key(block_num))
        return value

    def tx_location(self, txid: str) -> TxLocation | None:
        return self._blocks.tx_location(txid)

    def state_hash(self) -> bytes:
        with self.snapshot() as snapshot:
            return snapshot.state_hash()

    def block(self, number: int) -> common_pb2.Block | None:
        return self._blocks.block(number)

    def block_bytes(self, number: int) -> bytes | None:
        return self._blocks.block_bytes(number)

    def blocks(self, start: int, stop: int | None = None) -> Iterator[common_pb2.Block]:
        return self._blocks.blocks(start, stop)

    def snapshot(self) -> LevelSnapshot:
        return LevelSnapshot(self._db)

    def commit(
        self, block: common_pb2.Block, codes: Sequence[int], txs: Sequence[TxWrites]
    ) -> bytes:
        """See `Ledger.commit`; one sync `WriteBatch` for everything."""
        with self._commit_lock:
            prepared = codec.prepare_commit(block, codes, txs, self.height(), self._last_hash)
            try:
                self._blocks.append(block, extra=_ledger_writes(prepared))
            except BlockStoreError as exc:
                raise LedgerError(str(exc), code=exc.code) from None
            crash_point("ledger.after_write")
            self._savepoint = prepared.savepoint
            self._last_hash = prepared.commit_hash
            return prepared.commit_hash


def _ledger_writes(prepared: codec.PreparedCommit) -> Callable[[Any], None]:
    def extra(raw: Any) -> None:
        for (namespace, key), versioned in prepared.updates.items():
            state_key = codec.state_key(namespace, key)
            if versioned is None:
                raw.delete(state_key)
            else:
                raw.put(state_key, codec.encode_state_value(versioned.value, versioned.version))
        for entry in prepared.history:
            raw.put(
                codec.history_key(entry.namespace, entry.key, entry.version),
                codec.encode_history_value(entry.change),
            )
        raw.put(codec.commit_hash_key(prepared.block_num), prepared.commit_hash)
        raw.put(codec.SAVEPOINT_KEY, codec.encode_height(prepared.savepoint))
        crash_point("ledger.batch_built")

    return extra
