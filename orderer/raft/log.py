"""The Raft log as the core sees it: persisted entries (`Storage`) + an unstable tail.

`Unstable` holds what the core has accepted but the driver has not yet persisted
(entries and possibly an incoming snapshot). `RaftLog` stitches the two into one
log `[first_index, last_index]` and tracks `committed` and `applied`.

Invariants: `first_index - 1 <= applied <= committed <= last_index`; entries at or
before `committed` are never overwritten; unstable entries start at
`unstable.offset` and take precedence over stored entries at the same indices (a new
leader may overwrite a stored suffix that the driver has not yet truncated).
"""

from __future__ import annotations

from collections.abc import Sequence

from orderer.raft.storage import CompactedError, Storage, limit_size
from orderer.raft.types import Entry, Index, RaftError, Snapshot, Term


class Unstable:
    """Entries `[offset, offset + len(entries))` and/or a snapshot not yet persisted."""

    __slots__ = ("entries", "offset", "snapshot")

    def __init__(self, offset: Index) -> None:
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []
        self.offset = offset

    def maybe_first_index(self) -> Index | None:
        return Index(self.snapshot.index + 1) if self.snapshot is not None else None

    def maybe_last_index(self) -> Index | None:
        if self.entries:
            return Index(self.offset + len(self.entries) - 1)
        return self.snapshot.index if self.snapshot is not None else None

    def maybe_term(self, i: Index) -> Term | None:
        if i < self.offset:
            if self.snapshot is not None and self.snapshot.index == i:
                return self.snapshot.term
            return None
        k = i - self.offset
        return self.entries[k].term if k < len(self.entries) else None

    def stable_to(self, i: Index, t: Term) -> None:
        """Entries through (i, t) are persisted; forget them unless they were replaced
        (by a new leader's entries) after the Ready that carried them."""
        if self.maybe_term(i) == t and i >= self.offset:
            del self.entries[: i + 1 - self.offset]
            self.offset = Index(i + 1)

    def stable_snap_to(self, i: Index) -> None:
        if self.snapshot is not None and self.snapshot.index == i:
            self.snapshot = None

    def restore(self, snap: Snapshot) -> None:
        self.offset = Index(snap.index + 1)
        self.entries = []
        self.snapshot = snap

    def truncate_and_append(self, ents: Sequence[Entry]) -> None:
        after = ents[0].index
        end = self.offset + len(self.entries)
        if after == end:
            self.entries.extend(ents)
        elif after <= self.offset:
            # Replace everything unstable; the driver will truncate storage from `after`.
            self.offset = after
            self.entries = list(ents)
        else:
            del self.entries[after - self.offset :]
            self.entries.extend(ents)

    def slice(self, lo: Index, hi: Index) -> list[Entry]:
        """Entries `[lo, hi)`; requires `offset <= lo <= hi <= offset + len(entries)`."""
        if not (self.offset <= lo <= hi <= self.offset + len(self.entries)):
            raise RaftError(f"unstable slice [{lo}, {hi}) out of [{self.offset}, ...)")
        return self.entries[lo - self.offset : hi - self.offset]


class RaftLog:
    """Storage + unstable tail, with the commit and apply cursors."""

    __slots__ = ("applied", "committed", "storage", "unstable")

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        first = storage.first_index()
        last = storage.last_index()
        self.unstable = Unstable(Index(last + 1))
        # Everything up to the snapshot is committed and applied by definition.
        self.committed = Index(first - 1)
        self.applied = Index(first - 1)

    def __repr__(self) -> str:
        return (
            f"RaftLog(first={self.first_index()}, last={self.last_index()}, "
            f"committed={self.committed}, applied={self.applied}, "
            f"unstable_offset={self.unstable.offset}, unstable={len(self.unstable.entries)})"
        )

    # -- bounds and terms -------------------------------------------------------

    def first_index(self) -> Index:
        i = self.unstable.maybe_first_index()
        return i if i is not None else self.storage.first_index()

    def last_index(self) -> Index:
        i = self.unstable.maybe_last_index()
        return i if i is not None else self.storage.last_index()

    def last_term(self) -> Term:
        return self.term(self.last_index())

    def term(self, i: Index) -> Term:
        """Term of entry `i`, or 0 if `i` is outside `[first_index - 1, last_index]`."""
        t = self.unstable.maybe_term(i)
        if t is not None:
            return t
        if i < self.first_index() - 1 or i > self.last_index():
            return Term(0)
        try:
            return self.storage.term(i)
        except CompactedError:
            return Term(0)

    def match_term(self, i: Index, t: Term) -> bool:
        return self.term(i) == t

    def is_up_to_date(self, last_index: Index, last_term: Term) -> bool:
        """Raft §5.4.1: a log ending in (last_term, last_index) is at least as
        up-to-date as ours."""
        our_term = self.last_term()
        return last_term > our_term or (last_term == our_term and last_index >= self.last_index())

    # -- appending --------------------------------------------------------------

    def find_conflict(self, ents: Sequence[Entry]) -> Index:
        """Index of the first entry of `ents` not in our log (differing term or beyond
        the end), or 0 if all are present."""
        for e in ents:
            if not self.match_term(e.index, e.term):
                return e.index
        return Index(0)

    def find_conflict_by_term(self, index: Index, term: Term) -> Index:
        """The largest index ≤ `index` whose term is ≤ `term` (or `index` itself if it
        is past our last entry). Used for fast back-off: the leader skips every entry
        of a term the follower cannot share."""
        if index > self.last_index():
            return index
        while True:
            t = self.term(index)
            if t <= term:  # also stops at 0: below first_index - 1
                return index
            index = Index(index - 1)

    def maybe_append(
        self, index: Index, log_term: Term, committed: Index, ents: Sequence[Entry]
    ) -> Index | None:
        """Follower side of MsgApp (Raft §5.3): if our log has (index, log_term), append
        `ents` after it (dropping any conflicting suffix), advance the commit index to
        min(committed, last new index) and return that last new index; else None."""
        if not self.match_term(index, log_term):
            return None
        last_new = Index(index + len(ents))
        ci = self.find_conflict(ents)
        if ci:
            if ci <= self.committed:
                raise RaftError(f"conflict at {ci} within committed {self.committed}")
            self.append(ents[ci - (index + 1) :])
        self.commit_to(min(committed, last_new))
        return last_new

    def append(self, ents: Sequence[Entry]) -> Index:
        if ents:
            if ents[0].index - 1 < self.committed:
                raise RaftError(f"append at {ents[0].index} overwrites committed {self.committed}")
            self.unstable.truncate_and_append(ents)
        return self.last_index()

    # -- cursors ----------------------------------------------------------------

    def commit_to(self, to: Index) -> None:
        if to > self.committed:
            if to > self.last_index():
                raise RaftError(f"commit {to} beyond last index {self.last_index()}")
            self.committed = to

    def maybe_commit(self, max_index: Index, term: Term) -> bool:
        """Leader: commit through `max_index` (replicated on a quorum) only if that
        entry is from the current `term` (Raft §5.4.2)."""
        if max_index > self.committed and self.term(max_index) == term:
            self.commit_to(max_index)
            return True
        return False

    def applied_to(self, i: Index) -> None:
        if i == 0:
            return
        if i > self.committed or i < self.applied:
            raise RaftError(f"applied {i} outside [{self.applied}, {self.committed}]")
        self.applied = i

    def stable_to(self, i: Index, t: Term) -> None:
        self.unstable.stable_to(i, t)

    def stable_snap_to(self, i: Index) -> None:
        self.unstable.stable_snap_to(i)

    def restore(self, snap: Snapshot) -> None:
        """Replace the whole log with `snap` (follower far behind the leader)."""
        self.committed = snap.index
        self.unstable.restore(snap)

    # -- reading ----------------------------------------------------------------

    def unstable_entries(self) -> tuple[Entry, ...]:
        return tuple(self.unstable.entries)

    def has_next_committed_entries(self) -> bool:
        return self.committed > max(self.applied, self.first_index() - 1)

    def next_committed_entries(self, max_bytes: int) -> list[Entry]:
        """Committed, not yet applied entries `[applied+1, committed]` (from the first
        index if a snapshot covers the beginning), cut to `max_bytes` if > 0."""
        lo = Index(max(self.applied + 1, self.first_index()))
        if self.committed + 1 <= lo:
            return []
        return self.slice(lo, Index(self.committed + 1), max_bytes or (1 << 62))

    def snapshot(self) -> Snapshot:
        s = self.unstable.snapshot
        return s if s is not None else self.storage.snapshot()

    def entries_from(self, lo: Index, max_count: int, max_bytes: int) -> list[Entry] | None:
        """Up to `max_count` entries starting at `lo` within `max_bytes` (≥ 1 if any
        exist); None if `lo` is compacted (the caller must send a snapshot)."""
        last = self.last_index()
        if lo > last:
            return []
        if lo < self.first_index():
            return None
        try:
            return self.slice(lo, Index(min(last + 1, lo + max_count)), max_bytes)
        except CompactedError:
            return None

    def slice(self, lo: Index, hi: Index, max_bytes: int) -> list[Entry]:
        """Entries `[lo, hi)` cut to `max_bytes` (≥ 1 entry if lo < hi). Raises
        `CompactedError` if `lo < first_index`."""
        first = self.first_index()
        if lo > hi or hi > self.last_index() + 1:
            raise RaftError(f"slice [{lo}, {hi}) out of bounds [{first}, {self.last_index()}]")
        if lo < first:
            raise CompactedError(f"slice [{lo}, {hi}): compacted before {first}")
        if lo == hi:
            return []
        off = self.unstable.offset
        ents: list[Entry] = []
        if lo < off:
            stop = Index(min(hi, off))
            stored = self.storage.entries(lo, stop, max_bytes)
            if len(stored) < stop - lo:  # hit the size limit
                return list(stored)
            ents = list(stored)
        if hi > off:
            ents.extend(self.unstable.slice(Index(max(lo, off)), hi))
        return list(limit_size(ents, max_bytes))

    def all_entries(self) -> list[Entry]:
        """Every entry in `[first_index, last_index]` (for tests and debugging)."""
        return self.slice(self.first_index(), Index(self.last_index() + 1), 1 << 62)
