"""MemoryStorage and RaftLog: bounds, truncation, compaction, the unstable tail."""

from __future__ import annotations

import pytest

from orderer.raft import (
    CompactedError,
    Entry,
    Index,
    MemoryStorage,
    RaftError,
    RaftLog,
    Snapshot,
    SnapshotOutOfDateError,
    Term,
    UnavailableError,
)
from tests.unit.raft.helpers import storage_with_terms


def ents(*terms_from: tuple[int, int]) -> list[Entry]:
    return [Entry(Term(t), Index(i)) for i, t in terms_from]


def test_memory_storage_bounds_and_terms() -> None:
    st = storage_with_terms([1, 1, 2])
    assert (st.first_index(), st.last_index()) == (1, 3)
    assert st.term(Index(0)) == 0
    assert st.term(Index(3)) == 2
    with pytest.raises(UnavailableError):
        st.term(Index(4))
    assert [e.index for e in st.entries(Index(1), Index(4), 1 << 20)] == [1, 2, 3]
    assert len(st.entries(Index(1), Index(4), 1)) == 1  # size limit keeps ≥ 1


def test_memory_storage_append_overwrites_suffix_and_rejects_gaps() -> None:
    st = storage_with_terms([1, 1, 1])
    st.append(ents((2, 3)))
    assert [st.term(Index(i)) for i in (1, 2)] == [1, 3]
    assert st.last_index() == 2
    with pytest.raises(RaftError):
        st.append(ents((4, 3)))


def test_memory_storage_snapshot_and_compact() -> None:
    st = storage_with_terms([1, 2, 2, 3])
    with pytest.raises(RaftError):
        st.compact(Index(2))  # nothing may be dropped that no snapshot covers
    snap = st.create_snapshot(Index(3), b"app@3")
    assert snap == Snapshot(Index(3), Term(2), b"app@3")
    st.compact(Index(2))
    assert (st.first_index(), st.last_index(), st.term(Index(2))) == (3, 4, 2)
    with pytest.raises(CompactedError):
        st.entries(Index(2), Index(4), 1 << 20)
    with pytest.raises(CompactedError):
        st.term(Index(1))
    with pytest.raises(SnapshotOutOfDateError):
        st.create_snapshot(Index(3), b"")
    st.apply_snapshot(Snapshot(Index(10), Term(5), b"x"))
    assert (st.first_index(), st.last_index(), st.term(Index(10))) == (11, 10, 5)


def test_raft_log_unstable_tail_overrides_storage() -> None:
    log = RaftLog(storage_with_terms([1, 1, 1]))
    log.append(ents((2, 2), (3, 2)))  # a new leader overwrites index 2 onwards
    assert [log.term(Index(i)) for i in range(5)] == [0, 1, 2, 2, 0]
    assert log.last_index() == 3
    assert [e.term for e in log.slice(Index(1), Index(4), 1 << 20)] == [1, 2, 2]
    log.stable_to(Index(3), Term(1))  # a stale acknowledgement: term differs
    assert len(log.unstable.entries) == 2
    log.stable_to(Index(3), Term(2))
    assert not log.unstable.entries
    assert log.unstable.offset == 4


def test_raft_log_never_overwrites_committed_entries() -> None:
    log = RaftLog(storage_with_terms([1, 1, 1]))
    log.commit_to(Index(2))
    with pytest.raises(RaftError):
        log.append(ents((2, 2)))
    with pytest.raises(RaftError):
        log.commit_to(Index(4))


def test_find_conflict_by_term_skips_whole_terms() -> None:
    log = RaftLog(storage_with_terms([1, 1, 2, 2, 2, 4, 4]))
    assert log.find_conflict_by_term(Index(7), Term(3)) == 5
    assert log.find_conflict_by_term(Index(7), Term(1)) == 2
    assert log.find_conflict_by_term(Index(7), Term(4)) == 7
    assert log.find_conflict_by_term(Index(9), Term(1)) == 9  # beyond our log


def test_next_committed_entries_respects_applied_and_size() -> None:
    st = MemoryStorage()
    st.append([Entry(Term(1), Index(i), b"x" * 10) for i in range(1, 6)])
    log = RaftLog(st)
    log.commit_to(Index(4))
    log.applied_to(Index(1))
    assert [e.index for e in log.next_committed_entries(0)] == [2, 3, 4]
    assert [e.index for e in log.next_committed_entries(1)] == [2]


def test_restore_snapshot_resets_the_log() -> None:
    log = RaftLog(storage_with_terms([1, 1]))
    log.restore(Snapshot(Index(9), Term(3), b""))
    assert (log.first_index(), log.last_index(), log.committed) == (10, 9, 9)
    assert log.term(Index(9)) == 3
    assert log.term(Index(2)) == 0
    assert log.entries_from(Index(5), 10, 1 << 20) is None
