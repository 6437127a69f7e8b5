"""The durable Raft log: same semantics as MemoryStorage, and it survives reopening."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orderer.raft import (
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
from orderer.wal import LevelRaftStorage, decode_block_number, encode_block_number


def ents(first: int, last: int, term: int) -> list[Entry]:
    return [
        Entry(Term(term), Index(i), f"block-{i}-{term}".encode()) for i in range(first, last + 1)
    ]


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "wal")


@pytest.fixture
def wal(path: str) -> Iterator[LevelRaftStorage]:
    storage = LevelRaftStorage.open(path)
    yield storage
    storage.close()


def test_fresh_log_is_empty(wal: LevelRaftStorage) -> None:
    assert wal.initial_state() == HardState()
    assert (wal.first_index(), wal.last_index()) == (1, 0)
    assert wal.snapshot().is_empty
    assert wal.term(Index(0)) == 0
    with pytest.raises(UnavailableError):
        wal.term(Index(1))


def test_save_then_reopen_returns_everything(path: str) -> None:
    wal = LevelRaftStorage.open(path)
    hs = HardState(Term(3), NodeId(2), Index(4))
    noop = Entry(Term(3), Index(6), b"", EntryType.NOOP)
    wal.save(hs, [*ents(1, 5, 2), noop], None)
    wal.close()
    wal = LevelRaftStorage.open(path)
    try:
        assert wal.initial_state() == hs
        assert (wal.first_index(), wal.last_index()) == (1, 6)
        assert list(wal.entries(Index(1), Index(7), 1 << 20)) == [*ents(1, 5, 2), noop]
        assert wal.term(Index(6)) == 3
    finally:
        wal.close()


def test_conflicting_suffix_is_replaced(path: str) -> None:
    wal = LevelRaftStorage.open(path)
    wal.save(None, ents(1, 10, 1), None)
    wal.save(None, ents(6, 7, 2), None)  # a new leader overwrote from index 6
    assert wal.last_index() == 7
    assert [e.term for e in wal.entries(Index(1), Index(8), 1 << 20)] == [1] * 5 + [2, 2]
    with pytest.raises(UnavailableError):
        wal.entries(Index(1), Index(9), 1 << 20)
    wal.close()
    wal = LevelRaftStorage.open(path)  # the deleted tail stays deleted
    try:
        assert wal.last_index() == 7
    finally:
        wal.close()


def test_gap_after_last_is_refused(wal: LevelRaftStorage) -> None:
    wal.save(None, ents(1, 3, 1), None)
    with pytest.raises(RaftError):
        wal.save(None, ents(5, 6, 1), None)


def test_entries_are_cut_to_max_bytes_but_never_empty(wal: LevelRaftStorage) -> None:
    wal.save(None, ents(1, 5, 1), None)
    one = ents(1, 1, 1)[0].size()
    assert len(wal.entries(Index(1), Index(6), 0)) == 1
    assert len(wal.entries(Index(1), Index(6), 2 * one)) == 2
    assert len(wal.entries(Index(2), Index(4), 1 << 20)) == 2


def test_compaction_to_a_snapshot(path: str) -> None:
    wal = LevelRaftStorage.open(path)
    wal.save(None, ents(1, 10, 1), None)
    snap = wal.create_snapshot(Index(8), encode_block_number(7))
    assert snap == Snapshot(Index(8), Term(1), encode_block_number(7))
    with pytest.raises(SnapshotOutOfDateError):
        wal.create_snapshot(Index(8), b"")
    with pytest.raises(RaftError):
        wal.compact(Index(9))  # beyond the snapshot
    wal.compact(Index(6))
    assert wal.first_index() == 7
    assert wal.term(Index(6)) == 1
    with pytest.raises(CompactedError):
        wal.entries(Index(6), Index(8), 1 << 20)
    with pytest.raises(CompactedError):
        wal.term(Index(5))
    with pytest.raises(CompactedError):
        wal.compact(Index(6))
    wal.close()
    wal = LevelRaftStorage.open(path)
    try:
        assert (wal.first_index(), wal.last_index()) == (7, 10)
        assert decode_block_number(wal.snapshot().data) == 7
        assert [e.index for e in wal.entries(Index(7), Index(11), 1 << 20)] == [7, 8, 9, 10]
    finally:
        wal.close()


def test_received_snapshot_replaces_the_log(path: str) -> None:
    wal = LevelRaftStorage.open(path)
    wal.save(None, ents(1, 3, 1), None)
    snap = Snapshot(Index(20), Term(4), encode_block_number(15))
    wal.save(HardState(Term(4), NodeId(1), Index(20)), [*ents(21, 22, 4)], snap)
    assert (wal.first_index(), wal.last_index()) == (21, 22)
    assert wal.term(Index(20)) == 4
    with pytest.raises(SnapshotOutOfDateError):
        wal.save(None, [], snap)
    wal.close()
    wal = LevelRaftStorage.open(path)
    try:
        assert wal.snapshot() == snap
        assert (wal.first_index(), wal.last_index()) == (21, 22)
        assert wal.initial_state().commit == 20
    finally:
        wal.close()


def test_entries_before_the_offset_are_ignored_on_save(wal: LevelRaftStorage) -> None:
    wal.save(None, [], Snapshot(Index(5), Term(2), encode_block_number(4)))
    wal.save(None, ents(4, 7, 2), None)
    assert (wal.first_index(), wal.last_index()) == (6, 7)
