"""Safety properties of Raft (Figure 3 of the paper), checked on a simulated cluster.

The checker is fed by the simulator at the points where state becomes durable or
applied, plus after every step, and raises `AssertionError` with a precise message
on the first violation:

- Election safety: at most one leader per term, ever.
- Log matching: same (index, term) ⇒ same entry and same term just before it, for
  every entry ever persisted by any node; by induction the prefixes are identical.
- Leader completeness: when a node becomes leader, its log holds every entry known
  committed at that moment (by any node's commit index).
- State-machine safety: every application of index i, on any node, in any
  incarnation, has the same state digest; each node applies indices in order with no
  gap (restoring a snapshot counts as applying its prefix).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from orderer.raft import Entry, Index, MemoryStorage, NodeId, RaftNode, Snapshot, Term


def chain(digest: bytes, e: Entry) -> bytes:
    """Digest of the state after applying `e` on top of state `digest`."""
    h = hashlib.blake2b(digest, digest_size=16)
    h.update(struct.pack(">QQB", e.term, e.index, e.type))
    h.update(e.data)
    return h.digest()


ZERO_DIGEST = b"\0" * 16


@dataclass
class AppState:
    """A replicated state machine reduced to a hash chain over applied entries."""

    index: int = 0
    digest: bytes = ZERO_DIGEST

    def encode(self) -> bytes:
        return struct.pack(">Q", self.index) + self.digest

    @staticmethod
    def decode(data: bytes) -> AppState:
        if not data:
            return AppState()
        (index,) = struct.unpack(">Q", data[:8])
        return AppState(index, data[8:])


class SafetyChecker:
    def __init__(self) -> None:
        self.leaders: dict[Term, NodeId] = {}
        self.verified_leaders: set[tuple[NodeId, Term]] = set()
        # (index, term) -> (type, data, term of index-1) for every persisted entry.
        self.persisted: dict[tuple[Index, Term], tuple[int, bytes, Term]] = {}
        self.committed_terms: dict[Index, Term] = {}
        self.max_committed = Index(0)
        self.digests: dict[Index, bytes] = {Index(0): ZERO_DIGEST}
        self.applied_count = 0
        self.restores = 0

    # -- fed by the simulator ---------------------------------------------------

    def on_persist(self, nid: NodeId, storage: MemoryStorage, ents: Sequence[Entry]) -> None:
        """Called after `ents` were appended to `storage`."""
        first = storage.first_index()
        for e in ents:
            if e.index < first:
                continue
            prev = storage.term(Index(e.index - 1))
            if prev > e.term:
                raise AssertionError(f"node {nid}: term decreases at {e.index}: {prev}>{e.term}")
            key = (e.index, e.term)
            val = (int(e.type), e.data, prev)
            seen = self.persisted.setdefault(key, val)
            if seen != val:
                raise AssertionError(
                    f"log matching: node {nid} persisted {e} with prev term {prev}, "
                    f"another node persisted (type, data, prev term) {seen} at {key}"
                )

    def on_restore(self, nid: NodeId, app: AppState, snap: Snapshot) -> AppState:
        """A node's application restored a snapshot; returns the new app state."""
        new = AppState.decode(snap.data)
        self.restores += 1
        if new.index != snap.index:
            raise AssertionError(f"node {nid}: snapshot {snap.index} holds app at {new.index}")
        self._check_digest(nid, Index(new.index), new.digest)
        self._record_commit(nid, snap.index, snap.term)
        return new

    def on_apply(self, nid: NodeId, app: AppState, e: Entry) -> None:
        if e.index != app.index + 1:
            raise AssertionError(f"node {nid}: applied {e.index} after {app.index} (gap/repeat)")
        app.digest = chain(app.digest, e)
        app.index = e.index
        self._check_digest(nid, e.index, app.digest)
        self._record_commit(nid, e.index, e.term)
        self.applied_count += 1

    def after_step(self, nodes: dict[NodeId, RaftNode]) -> None:
        for nid, n in nodes.items():
            if not n.is_leader:
                continue
            term = n.term
            other = self.leaders.setdefault(term, nid)
            if other != nid:
                raise AssertionError(f"election safety: {other} and {nid} both lead term {term}")
            if (nid, term) not in self.verified_leaders:
                self.verified_leaders.add((nid, term))
                self._check_leader_completeness(nid, n)
        for nid, n in nodes.items():
            log = n.log
            lo = max(log.first_index() - 1, 1)
            for i in range(max(lo, self.max_committed + 1), log.committed + 1):
                self._record_commit(nid, Index(i), log.term(Index(i)))

    # -- internals --------------------------------------------------------------

    def _check_digest(self, nid: NodeId, index: Index, digest: bytes) -> None:
        seen = self.digests.setdefault(index, digest)
        if seen != digest:
            raise AssertionError(f"state machine safety: node {nid} diverges at index {index}")

    def _record_commit(self, nid: NodeId, index: Index, term: Term) -> None:
        if index == 0:
            return
        seen = self.committed_terms.setdefault(index, term)
        if seen != term:
            raise AssertionError(
                f"node {nid} committed term {term} at {index}, previously committed {seen}"
            )
        if index > self.max_committed:
            self.max_committed = index

    def _check_leader_completeness(self, nid: NodeId, n: RaftNode) -> None:
        log = n.log
        if log.last_index() < self.max_committed:
            raise AssertionError(
                f"leader completeness: leader {nid} of term {n.term} ends at "
                f"{log.last_index()} < committed {self.max_committed}"
            )
        for i in range(max(log.first_index() - 1, 1), self.max_committed + 1):
            want = self.committed_terms.get(Index(i))
            if want is not None and log.term(Index(i)) != want:
                raise AssertionError(
                    f"leader completeness: leader {nid} of term {n.term} has term "
                    f"{log.term(Index(i))} at committed index {i} (term {want})"
                )


def check_log_matching(storages: dict[NodeId, MemoryStorage]) -> None:
    """Pairwise: if two persisted logs agree on the term at some index, they agree
    on every entry both hold up to there."""
    logs = {
        nid: {e.index: e for e in s.entries(s.first_index(), Index(s.last_index() + 1), 1 << 62)}
        for nid, s in storages.items()
        if s.last_index() >= s.first_index()
    }
    ids = sorted(logs)
    for a_pos, a in enumerate(ids):
        for b in ids[a_pos + 1 :]:
            la, lb = logs[a], logs[b]
            common = sorted(set(la) & set(lb), reverse=True)
            matched = False
            for i in common:
                if la[i].term == lb[i].term:
                    matched = True
                if matched and la[i] != lb[i]:
                    raise AssertionError(f"log matching: nodes {a},{b} differ at {i} below a match")
