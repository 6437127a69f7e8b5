"""The durable side of the Raft log, as the core sees it, and an in-memory version.

The core only *reads* `Storage`; the driver writes it while handling a `Ready`
(`append`, `set_hard_state`, `apply_snapshot`) and when the application compacts
(`create_snapshot` + `compact`). `MemoryStorage` is the reference implementation for
tests; the durable one (LevelDB, in the driver) implements the same Protocol.

Layout: the log holds the entries `[first_index, last_index]`; the entry at
`first_index - 1` has been compacted into the snapshot, but its term is still known
(`term(first_index - 1) == snapshot().term`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from orderer.raft.types import (
    EMPTY_HARD_STATE,
    EMPTY_SNAPSHOT,
    Entry,
    HardState,
    Index,
    RaftError,
    Snapshot,
    Term,
)


class StorageError(Exception):
    """Base of the errors a `Storage` reports to the core."""


class CompactedError(StorageError):
    """The requested index is at or before the snapshot: its entry is gone."""


class UnavailableError(StorageError):
    """The requested index is after the last stored entry."""


class SnapshotOutOfDateError(StorageError):
    """A snapshot older than (or as old as) the current one was offered."""


class Storage(Protocol):
    """Read-only view of the persisted log, owned by its user, the Raft core."""

    def initial_state(self) -> HardState:
        """The last persisted hard state (`EMPTY_HARD_STATE` for a fresh node)."""
        ...

    def entries(self, lo: Index, hi: Index, max_bytes: int) -> Sequence[Entry]:
        """Entries `[lo, hi)`, cut short to fit `max_bytes` (≥ 1 entry if lo < hi).

        Raises `CompactedError` if `lo <= snapshot index`; `hi <= last_index + 1`.
        """
        ...

    def term(self, i: Index) -> Term:
        """Term of entry `i` for `i` in `[first_index - 1, last_index]`.

        Raises `CompactedError` below that range, `UnavailableError` above it.
        """
        ...

    def first_index(self) -> Index:
        """Index of the first stored entry (snapshot index + 1)."""
        ...

    def last_index(self) -> Index:
        """Index of the last stored entry (the snapshot index if there is none)."""
        ...

    def snapshot(self) -> Snapshot:
        """The most recent snapshot (`EMPTY_SNAPSHOT` if never compacted)."""
        ...


def limit_size(ents: Sequence[Entry], max_bytes: int) -> Sequence[Entry]:
    """The longest prefix of `ents` within `max_bytes`, but never fewer than one."""
    if len(ents) <= 1:
        return ents
    size = ents[0].size()
    for n in range(1, len(ents)):
        size += ents[n].size()
        if size > max_bytes:
            return ents[:n]
    return ents


class MemoryStorage:
    """`Storage` kept in a Python list; in tests it plays the durable disk.

    `_ents[0]` is a dummy entry carrying the snapshot's (index, term); real entries
    follow at consecutive indices, so entry `i` is `_ents[i - _ents[0].index]`.
    """

    def __init__(self) -> None:
        self._hard_state = EMPTY_HARD_STATE
        self._snapshot = EMPTY_SNAPSHOT
        self._ents: list[Entry] = [Entry(Term(0), Index(0))]

    # -- Storage (read) ---------------------------------------------------------

    def initial_state(self) -> HardState:
        return self._hard_state

    def entries(self, lo: Index, hi: Index, max_bytes: int) -> Sequence[Entry]:
        offset = self._ents[0].index
        if lo <= offset:
            raise CompactedError(f"entries [{lo}, {hi}) compacted through {offset}")
        if hi > self.last_index() + 1:
            raise UnavailableError(f"entries [{lo}, {hi}) beyond last {self.last_index()}")
        return limit_size(self._ents[lo - offset : hi - offset], max_bytes)

    def term(self, i: Index) -> Term:
        offset = self._ents[0].index
        if i < offset:
            raise CompactedError(f"term of {i}: compacted through {offset}")
        if i - offset >= len(self._ents):
            raise UnavailableError(f"term of {i}: beyond last {self.last_index()}")
        return self._ents[i - offset].term

    def first_index(self) -> Index:
        return Index(self._ents[0].index + 1)

    def last_index(self) -> Index:
        return Index(self._ents[0].index + len(self._ents) - 1)

    def snapshot(self) -> Snapshot:
        return self._snapshot

    # -- writes by the driver ---------------------------------------------------

    def set_hard_state(self, hs: HardState) -> None:
        self._hard_state = hs

    def append(self, entries: Sequence[Entry]) -> None:
        """Store `entries`, replacing any stored entries from `entries[0].index` on.

        Entries at or before the snapshot are ignored (already compacted); a gap after
        the last stored entry is a contract violation.
        """
        if not entries:
            return
        first = self.first_index()
        if entries[-1].index < first:
            return
        if entries[0].index < first:
            entries = entries[first - entries[0].index :]
        pos = entries[0].index - self._ents[0].index
        if pos > len(self._ents):
            raise RaftError(f"missing log entries: last {self.last_index()}, got {entries[0]}")
        del self._ents[pos:]
        self._ents.extend(entries)

    def apply_snapshot(self, snap: Snapshot) -> None:
        """Replace the whole log with `snap` (a follower catching up)."""
        if snap.index <= self._snapshot.index:
            raise SnapshotOutOfDateError(f"snapshot {snap.index} <= {self._snapshot.index}")
        self._snapshot = snap
        self._ents = [Entry(snap.term, snap.index)]

    def create_snapshot(self, index: Index, data: bytes) -> Snapshot:
        """Record that the application's state through `index` is `data`.

        `index` must be applied by the application (hence stored and committed);
        this does not drop entries: call `compact` for that.
        """
        if index <= self._snapshot.index:
            raise SnapshotOutOfDateError(f"snapshot {index} <= {self._snapshot.index}")
        if index > self.last_index():
            raise RaftError(f"snapshot {index} beyond last index {self.last_index()}")
        self._snapshot = Snapshot(index, self.term(index), data)
        return self._snapshot

    def compact(self, index: Index) -> None:
        """Drop entries `[first_index, index]`; `index` must be ≤ the snapshot index so
        that a follower that needs them can still be sent the snapshot."""
        offset = self._ents[0].index
        if index <= offset:
            raise CompactedError(f"compact {index}: already compacted through {offset}")
        if index > self._snapshot.index:
            raise RaftError(f"compact {index} beyond snapshot {self._snapshot.index}")
        i = index - offset
        self._ents = [Entry(self._ents[i].term, self._ents[i].index), *self._ents[i + 1 :]]
