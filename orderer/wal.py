"""The durable Raft log of one channel on LevelDB (plyvel): `LevelRaftStorage`.

It implements the Raft core's `Storage` Protocol (what the core reads) and the
writes the driver makes while handling a `Ready`, with the same semantics as
`orderer.raft.MemoryStorage`, which is the reference.

Keys (one database per channel):

* `e` + index (8 bytes, big-endian) → term (8) ‖ type (1) ‖ data
* `hs`   → term (8) ‖ vote (8) ‖ commit (8)
* `snap` → index (8) ‖ term (8) ‖ data (the snapshot: for the orderer, the number
  of the last block it covers, see `encode_block_number`)
* `off`  → index (8) ‖ term (8): the log was compacted through `index`
  (`first_index == off.index + 1`, `term(off.index) == off.term`)

Invariants: entries `[first_index, last_index]` are all present and nothing else
is; `off.index <= snap.index`; every write is one `WriteBatch(sync=True)`, so on
return it is on disk (fsync) and after a crash either all of it or none of it is.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from typing import Any

import plyvel

from common.leveldb import open_db
from orderer.raft import (
    EMPTY_HARD_STATE,
    EMPTY_SNAPSHOT,
    CompactedError,
    Entry,
    EntryType,
    HardState,
    Index,
    NodeId,
    RaftError,
    Snapshot,
    SnapshotOutOfDateError,
    Term,
    UnavailableError,
)

_ENTRY = b"e"
_HARD_STATE = b"hs"
_SNAPSHOT = b"snap"
_OFFSET = b"off"
_U64 = struct.Struct(">Q")
_ENTRY_HEAD = struct.Struct(">QB")
_HS = struct.Struct(">QQQ")
_PAIR = struct.Struct(">QQ")


class WalError(Exception):
    """The Raft log on disk cannot be opened or is inconsistent."""


def encode_block_number(number: int) -> bytes:
    """Snapshot data: the number of the last block the snapshot covers."""
    return _U64.pack(number)


def decode_block_number(data: bytes) -> int:
    return int(_U64.unpack(data)[0])


def _key(index: int) -> bytes:
    return _ENTRY + _U64.pack(index)


def _encode_entry(entry: Entry) -> bytes:
    return _ENTRY_HEAD.pack(entry.term, int(entry.type)) + entry.data


def _decode_entry(index: int, raw: bytes) -> Entry:
    term, kind = _ENTRY_HEAD.unpack_from(raw)
    return Entry(Term(term), Index(index), raw[_ENTRY_HEAD.size :], EntryType(kind))


class LevelRaftStorage:
    """A channel's Raft log, hard state and snapshot in a plyvel database.

    Reads are served from the database, except first/last index, the offset, the
    hard state and the snapshot, which are mirrored in memory (written only after
    the batch that stores them succeeded). Not thread-safe: only the driver thread
    uses it (the core reads it from that same thread).
    """

    def __init__(self, db: Any) -> None:
        self._db = db
        raw = db.get(_HARD_STATE)
        if raw is None:
            self._hard_state = EMPTY_HARD_STATE
        else:
            term, vote, commit = _HS.unpack(raw)
            self._hard_state = HardState(Term(term), NodeId(vote), Index(commit))
        raw = db.get(_SNAPSHOT)
        if raw is None:
            self._snapshot = EMPTY_SNAPSHOT
        else:
            index, term = _PAIR.unpack_from(raw)
            self._snapshot = Snapshot(Index(index), Term(term), raw[_PAIR.size :])
        raw = db.get(_OFFSET)
        off_index, off_term = _PAIR.unpack(raw) if raw is not None else (0, 0)
        self._offset = Index(off_index)
        self._offset_term = Term(off_term)
        last = self._offset
        with db.iterator(prefix=_ENTRY, reverse=True, include_value=False) as it:
            for key in it:
                last = Index(_U64.unpack(key[len(_ENTRY) :])[0])
                break
        self._last = last
        if self._last < self._offset:
            raise WalError(f"raft log is corrupt: last entry {self._last} < offset {self._offset}")

    @classmethod
    def open(cls, path: str) -> LevelRaftStorage:
        try:
            os.makedirs(path, exist_ok=True)
            db = open_db(path)
        except (OSError, plyvel.Error) as exc:
            raise WalError(f"cannot open the raft log at {path}: {exc}") from None
        return cls(db)

    def close(self) -> None:
        self._db.close()

    # -- Storage (read) -----------------------------------------------------------

    def initial_state(self) -> HardState:
        return self._hard_state

    def entries(self, lo: Index, hi: Index, max_bytes: int) -> Sequence[Entry]:
        if lo <= self._offset:
            raise CompactedError(f"entries [{lo}, {hi}) compacted through {self._offset}")
        if hi > self._last + 1:
            raise UnavailableError(f"entries [{lo}, {hi}) beyond last {self._last}")
        out: list[Entry] = []
        size = 0
        truncated = False
        with self._db.iterator(start=_key(lo), stop=_key(hi)) as it:
            for key, value in it:
                entry = _decode_entry(_U64.unpack(key[len(_ENTRY) :])[0], value)
                size += entry.size()
                if out and size > max_bytes:
                    truncated = True
                    break
                out.append(entry)
        if not truncated and len(out) != hi - lo:
            raise WalError(f"raft log is missing entries in [{lo}, {hi})")
        return out

    def term(self, i: Index) -> Term:
        if i < self._offset:
            raise CompactedError(f"term of {i}: compacted through {self._offset}")
        if i > self._last:
            raise UnavailableError(f"term of {i}: beyond last {self._last}")
        if i == self._offset:
            return self._offset_term
        raw = self._db.get(_key(i))
        if raw is None:
            raise WalError(f"raft log is missing entry {i}")
        return Term(_ENTRY_HEAD.unpack_from(raw)[0])

    def first_index(self) -> Index:
        return Index(self._offset + 1)

    def last_index(self) -> Index:
        return self._last

    def snapshot(self) -> Snapshot:
        return self._snapshot

    # -- writes by the driver -----------------------------------------------------

    def save(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
    ) -> None:
        """Persist one `Ready`'s step 1 in ONE synced batch: the snapshot (replacing
        the log up to its index), then the entries (replacing any stored suffix from
        `entries[0].index` on), then the hard state."""
        batch = self._db.write_batch(sync=True)
        offset, offset_term, last, snap = self._offset, self._offset_term, self._last, None
        if snapshot is not None and not snapshot.is_empty:
            if snapshot.index <= self._snapshot.index:
                raise SnapshotOutOfDateError(f"snapshot {snapshot.index} <= {self._snapshot.index}")
            self._delete_range(batch, offset + 1, last + 1)
            offset, offset_term, last, snap = (
                snapshot.index,
                snapshot.term,
                snapshot.index,
                snapshot,
            )
            batch.put(_SNAPSHOT, _PAIR.pack(snap.index, snap.term) + snap.data)
            batch.put(_OFFSET, _PAIR.pack(offset, offset_term))
        if entries and entries[-1].index > offset:
            if entries[0].index <= offset:
                entries = entries[offset + 1 - entries[0].index :]
            first = entries[0].index
            if first > last + 1:
                raise RaftError(f"missing log entries: last {last}, got {entries[0]}")
            self._delete_range(batch, max(first, entries[-1].index + 1), last + 1)
            for entry in entries:
                batch.put(_key(entry.index), _encode_entry(entry))
            last = entries[-1].index
        if hard_state is not None:
            batch.put(_HARD_STATE, _HS.pack(hard_state.term, hard_state.vote, hard_state.commit))
        batch.write()
        self._offset, self._offset_term, self._last = Index(offset), Term(offset_term), last
        if snap is not None:
            self._snapshot = snap
        if hard_state is not None:
            self._hard_state = hard_state

    def create_snapshot(self, index: Index, data: bytes) -> Snapshot:
        """Record (durably) that the application's state through `index` is `data`.
        `index` must be applied; entries are not dropped (see `compact`)."""
        if index <= self._snapshot.index:
            raise SnapshotOutOfDateError(f"snapshot {index} <= {self._snapshot.index}")
        if index > self._last:
            raise RaftError(f"snapshot {index} beyond last index {self._last}")
        snap = Snapshot(index, self.term(index), data)
        self._db.put(_SNAPSHOT, _PAIR.pack(snap.index, snap.term) + snap.data, sync=True)
        self._snapshot = snap
        return snap

    def compact(self, index: Index) -> None:
        """Drop entries `[first_index, index]` (`index` ≤ the snapshot index), durably."""
        if index <= self._offset:
            raise CompactedError(f"compact {index}: already compacted through {self._offset}")
        if index > self._snapshot.index:
            raise RaftError(f"compact {index} beyond snapshot {self._snapshot.index}")
        term = self.term(index)
        batch = self._db.write_batch(sync=True)
        self._delete_range(batch, self._offset + 1, index + 1)
        batch.put(_OFFSET, _PAIR.pack(index, term))
        batch.write()
        self._offset, self._offset_term = index, term

    def _delete_range(self, batch: Any, lo: int, hi: int) -> None:
        """Delete entries `[lo, hi)` in `batch` (keys are dense, so no scan is needed)."""
        for i in range(lo, hi):
            batch.delete(_key(i))
