"""The ledger (LevelDB and in-memory twin): commit, reopen, reads, history, commit
hashes, block metadata and refusals."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import plyvel
import pytest

from chaincode.stub import create_composite_key, partial_composite_range
from common import block as blk
from common.blockstore import BLOCK_FILES_DIR, LevelBlockStore, TxLocation
from peer.ledger import (
    Height,
    Ledger,
    LedgerError,
    LevelLedger,
    MemoryLedger,
    Namespace,
    TxId,
    TxWrites,
    Version,
    VersionedValue,
    Write,
    block_commit_hash,
    open_channel_ledger,
)
from protos.common import common_pb2
from protos.peer import transaction_pb2
from tests.unit.peer.blocks import CC, TS, Tx, commit, envelope, next_block, writes


@pytest.fixture(params=["leveldb", "memory"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    opened: Ledger = (
        MemoryLedger() if request.param == "memory" else LevelLedger.open(tmp_path / "ledger")
    )
    yield opened
    opened.close()


def test_empty_ledger(ledger: Ledger) -> None:
    assert ledger.height() == 0
    assert ledger.savepoint() is None
    assert ledger.get_state(CC, "a") is None
    assert ledger.commit_hash(0) is None
    assert list(ledger.range(CC, "", "")) == []


def test_commit_sets_state_versions_savepoint_and_tx_index(ledger: Ledger) -> None:
    commit(ledger, [Tx("t0", writes(("a", b"1"), ("b", b"2"))), Tx("t1", writes(("c", b"3")))])
    commit(ledger, [Tx("t2", writes(("a", b"4")))])
    assert ledger.height() == 2
    assert ledger.savepoint() == Height(1, 1)
    assert ledger.get_state(CC, "a") == VersionedValue(b"4", Version(1, 0))
    assert ledger.get_state(CC, "b") == VersionedValue(b"2", Version(0, 0))
    assert ledger.get_state(CC, "c") == VersionedValue(b"3", Version(0, 1))
    assert ledger.get_state(Namespace("other"), "a") is None
    assert ledger.tx_location("t1") == TxLocation(0, 1, transaction_pb2.VALID)
    assert ledger.tx_location("nope") is None


def test_reopen_resumes_from_savepoint(tmp_path: Path) -> None:
    first = open_channel_ledger(tmp_path, "trade")
    commit(first, [Tx("t0", writes(("a", b"1")))])
    commit(first, [Tx("t1", writes(("a", None), ("b", b"2")))])
    hashes = [first.commit_hash(0), first.commit_hash(1)]
    state = first.state_hash()
    first.close()
    again = open_channel_ledger(tmp_path, "trade")
    assert (tmp_path / "trade").is_dir()
    assert again.height() == 2
    assert again.savepoint() == Height(1, 1)
    assert [again.commit_hash(0), again.commit_hash(1)] == hashes
    assert again.state_hash() == state
    assert again.get_state(CC, "a") is None
    commit(again, [Tx("t2", writes(("c", b"3")))])
    assert again.height() == 3
    again.close()


def test_channel_name_must_be_safe(tmp_path: Path) -> None:
    for bad in ("../x", "Trade", "", "a/b"):
        with pytest.raises(LedgerError):
            open_channel_ledger(tmp_path, bad)


def test_committed_block_carries_filter_and_commit_hash(ledger: Ledger) -> None:
    block = next_block(
        ledger, [envelope(Tx("t0", writes(("a", b"1")))), envelope(Tx("t1", writes()))]
    )
    codes = [transaction_pb2.VALID, transaction_pb2.ENDORSEMENT_POLICY_FAILURE]
    write = TxWrites(0, TxId("t0"), TS, (Write(CC, "a", b"1"),))
    digest = ledger.commit(block, codes, [write])
    stored = ledger.block(0)
    assert stored is not None
    assert stored.metadata.metadata[common_pb2.TRANSACTIONS_FILTER] == bytes(codes)
    assert block_commit_hash(stored) == digest == ledger.commit_hash(0)
    assert ledger.tx_location("t1") == TxLocation(0, 1, transaction_pb2.ENDORSEMENT_POLICY_FAILURE)
    assert ledger.block_bytes(0) == stored.SerializeToString(deterministic=True)


def test_invalid_tx_changes_nothing_but_is_stored(ledger: Ledger) -> None:
    block = next_block(ledger, [envelope(Tx("t0", writes(("a", b"1"))))])
    ledger.commit(block, [transaction_pb2.MVCC_READ_CONFLICT], [])
    assert ledger.height() == 1
    assert ledger.get_state(CC, "a") is None
    assert ledger.history(CC, "a") == []


def test_refuses_bad_commits(ledger: Ledger) -> None:
    block = next_block(ledger, [envelope(Tx("t0", writes(("a", b"1"))))])
    w = TxWrites(0, TxId("t0"), TS, (Write(CC, "a", b"1"),))
    with pytest.raises(LedgerError, match="validation codes"):
        ledger.commit(block, [], [])
    with pytest.raises(LedgerError, match="has writes but code"):
        ledger.commit(block, [transaction_pb2.MVCC_READ_CONFLICT], [w])
    with pytest.raises(LedgerError, match="out of range"):
        ledger.commit(block, [0], [TxWrites(1, TxId("t0"), TS, ())])
    late = blk.new_block(3, b"", [envelope(Tx("t9", writes()))])
    with pytest.raises(LedgerError, match="height is 0"):
        ledger.commit(late, [0], [])
    assert ledger.height() == 0
    ledger.commit(block, [0], [w])
    broken = blk.new_block(1, b"\x01" * 32, [envelope(Tx("t1", writes()))])
    with pytest.raises(LedgerError):
        ledger.commit(broken, [0], [])
    assert ledger.height() == 1
    assert ledger.savepoint() == Height(0, 1)


def test_history_oldest_first_with_deletes(ledger: Ledger) -> None:
    t1 = TS
    commit(ledger, [Tx("t0", writes(("a", b"1"))), Tx("t1", writes(("a", b"2")))])
    commit(ledger, [Tx("t2", writes(("a", None)), timestamp=type(t1)(t1.seconds + 60, 7))])
    commit(ledger, [Tx("t3", writes(("a", b"3")))])
    history = ledger.history(CC, "a")
    assert [(h.tx_id, h.value, h.is_delete) for h in history] == [
        ("t0", b"1", False),
        ("t1", b"2", False),
        ("t2", b"", True),
        ("t3", b"3", False),
    ]
    assert history[2].timestamp == type(t1)(t1.seconds + 60, 7)
    assert history[0].timestamp == TS
    assert ledger.history(CC, "b") == []


def test_range_is_start_inclusive_end_exclusive(ledger: Ledger) -> None:
    commit(ledger, [Tx("t0", writes(*[(k, k.encode()) for k in ["a", "b", "ba", "c", "d"]]))])
    commit(ledger, [Tx("t1", writes(("x", b"x"), namespace="zz"))])

    def keys(start: str, end: str) -> list[str]:
        return [k for k, _ in ledger.range(CC, start, end)]

    assert keys("b", "d") == ["b", "ba", "c"]
    assert keys("", "") == ["a", "b", "ba", "c", "d"]
    assert keys("c", "") == ["c", "d"]
    assert keys("d", "b") == []
    assert keys("bb", "c") == []
    assert [k for k, _ in ledger.range(Namespace("zz"), "", "")] == ["x"]


def test_composite_keys_with_nul_bytes(ledger: Ledger) -> None:
    k1 = create_composite_key("voucher", ["V1"])
    k2 = create_composite_key("voucher", ["V1", "split"])
    k3 = create_composite_key("voucher", ["V2"])
    other = create_composite_key("vouchers", ["V1"])
    unicode_key = "提单\x00\U0010fffe"
    commit(
        ledger,
        [Tx("t0", writes((k1, b"1"), (k2, b"2"), (k3, b"3"), (other, b"o"), (unicode_key, b"u")))],
    )
    commit(ledger, [Tx("t1", writes((k1, b"1b")))])
    start, end = partial_composite_range("voucher", ["V1"])
    assert [k for k, _ in ledger.range(CC, start, end)] == [k1, k2]
    start, end = partial_composite_range("voucher", [])
    assert [k for k, _ in ledger.range(CC, start, end)] == [k1, k2, k3]
    assert ledger.get_state(CC, unicode_key) == VersionedValue(b"u", Version(0, 0))
    # History of k1 must not pick up k2, whose key starts with k1.
    assert [h.tx_id for h in ledger.history(CC, k1)] == ["t0", "t1"]
    assert [h.tx_id for h in ledger.history(CC, k2)] == ["t0"]
    # A namespace ending like another's prefix does not leak keys.
    commit(ledger, [Tx("t2", writes(("\x00x", b"n"), namespace="c"))])
    assert [k for k, _ in ledger.range(Namespace("c"), "", "")] == ["\x00x"]
    assert ledger.get_state(CC, "\x00x") is None


def test_last_write_of_a_key_in_a_block_wins(ledger: Ledger) -> None:
    block = next_block(ledger, [envelope(Tx(f"t{i}", writes())) for i in range(3)])
    txs = [
        TxWrites(0, TxId("t0"), TS, (Write(CC, "a", b"0"), Write(CC, "a", b"0b"))),
        TxWrites(2, TxId("t2"), TS, (Write(CC, "a", b"2"),)),
    ]
    ledger.commit(block, [0, 0, 0], txs)
    assert ledger.get_state(CC, "a") == VersionedValue(b"2", Version(0, 2))
    assert [h.value for h in ledger.history(CC, "a")] == [b"0b", b"2"]


def test_snapshot_does_not_see_later_commits(ledger: Ledger) -> None:
    commit(ledger, [Tx("t0", writes(("a", b"1"), ("b", b"1")))])
    with ledger.snapshot() as snap:
        commit(ledger, [Tx("t1", writes(("a", b"2"), ("b", None), ("c", b"3")))])
        assert snap.height() == 1
        assert snap.get_state(CC, "a") == VersionedValue(b"1", Version(0, 0))
        assert [k for k, _ in snap.range(CC, "", "")] == ["a", "b"]
        assert len(snap.history(CC, "a")) == 1
    assert [k for k, _ in ledger.range(CC, "", "")] == ["a", "c"]


def _feed(ledger: Ledger, differ: bool = False) -> None:
    commit(ledger, [Tx("t0", writes(("a", b"1"), ("b", b"2"))), Tx("t1", writes(("c", b"3")))])
    commit(ledger, [Tx("t2", writes(("a", b"9" if differ else b"4"), ("b", None)))])
    commit(ledger, [Tx("t3", writes(("d", b"5")))])


def test_commit_hash_same_blocks_same_hash_and_state(tmp_path: Path) -> None:
    level = LevelLedger.open(tmp_path / "one")
    memory = MemoryLedger()
    _feed(level)
    _feed(memory)
    for n in range(3):
        assert level.commit_hash(n) == memory.commit_hash(n)
        assert level.commit_hash(n) is not None
    assert len({level.commit_hash(n) for n in range(3)}) == 3
    assert level.state_hash() == memory.state_hash()
    level.close()


def test_commit_hash_differs_when_a_write_differs() -> None:
    same, other = MemoryLedger(), MemoryLedger()
    _feed(same)
    _feed(other, differ=True)
    assert same.commit_hash(0) == other.commit_hash(0)
    assert same.commit_hash(1) != other.commit_hash(1)
    # The chain carries the difference forward even when block 2's writes agree.
    assert same.commit_hash(2) != other.commit_hash(2)
    assert same.state_hash() != other.state_hash()


def test_commit_hash_differs_when_only_a_code_differs() -> None:
    one, two = MemoryLedger(), MemoryLedger()
    for ledger, code in (
        (one, transaction_pb2.MVCC_READ_CONFLICT),
        (two, transaction_pb2.BAD_PAYLOAD),
    ):
        block = next_block(ledger, [envelope(Tx("t0", writes(("a", b"1"))))])
        ledger.commit(block, [code], [])
    assert one.commit_hash(0) != two.commit_hash(0)
    assert one.state_hash() == two.state_hash()


def test_open_refuses_block_store_ahead_of_savepoint(tmp_path: Path) -> None:
    path = tmp_path / "ledger"
    ledger = LevelLedger.open(path)
    commit(ledger, [Tx("t0", writes(("a", b"1")))])
    ledger.close()
    # Append a block to the block store alone, bypassing the ledger's batch.
    db = plyvel.DB(str(path))
    store = LevelBlockStore(db, path / BLOCK_FILES_DIR, prefix=b"blk/")
    last = store.block(0)
    assert last is not None
    store.append(blk.new_block(1, blk.header_hash(last.header), [envelope(Tx("t1", writes()))]))
    store.close()
    with pytest.raises(LedgerError) as caught:
        LevelLedger.open(path)
    assert caught.value.code == "LEDGER_AHEAD_OF_SAVEPOINT"


def test_open_refuses_savepoint_ahead_of_block_store(tmp_path: Path) -> None:
    path = tmp_path / "ledger"
    ledger = LevelLedger.open(path)
    commit(ledger, [Tx("t0", writes(("a", b"1")))])
    ledger.close()
    db = plyvel.DB(str(path))
    db.put(b"meta/savepoint", (5).to_bytes(8, "big") + (1).to_bytes(4, "big"))
    db.close()
    with pytest.raises(LedgerError) as caught:
        LevelLedger.open(path)
    assert caught.value.code == "LEDGER_CORRUPT"


def test_on_disk_layout(tmp_path: Path) -> None:
    path = tmp_path / "ledger"
    ledger = LevelLedger.open(path)
    commit(ledger, [Tx("t0", writes(("\x00k", b"v")))])
    ledger.close()
    db = plyvel.DB(str(path))
    keys = [k for k, _ in db.iterator()]
    db.close()
    assert b"st/\x00\x02cc\x00k" in keys
    assert b"hi/\x00\x02cc\x00\x00\x00\x02\x00k" + bytes(8) + bytes(4) in keys
    assert b"ch/" + bytes(8) in keys
    assert b"meta/savepoint" in keys
    assert b"blk/height" in keys
    assert b"blk/end" in keys
    assert b"blk/b" + bytes(8) in keys  # where block 0's bytes are in the block files
    assert (path / BLOCK_FILES_DIR / "blockfile_000000").stat().st_size > 0
    assert b"blk/tt0" in keys
    assert all(k[:3] in (b"st/", b"hi/", b"ch/", b"blk", b"met") for k in keys)


class _CountingDb:
    """A plyvel DB proxy that counts batches and direct writes."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.batches: list[dict[str, Any]] = []
        self.direct_writes = 0

    def write_batch(self, **kwargs: Any) -> Any:
        self.batches.append(kwargs)
        return self.db.write_batch(**kwargs)

    def put(self, *args: Any) -> None:
        self.direct_writes += 1
        self.db.put(*args)

    def delete(self, *args: Any) -> None:
        self.direct_writes += 1
        self.db.delete(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def test_commit_is_one_sync_batch(tmp_path: Path) -> None:
    counting = _CountingDb(plyvel.DB(str(tmp_path / "ledger"), create_if_missing=True))
    ledger = LevelLedger(counting, tmp_path / "ledger" / BLOCK_FILES_DIR)
    commit(ledger, [Tx("t0", writes(("a", b"1"), ("b", None))), Tx("t1", writes(("c", b"1")))])
    commit(ledger, [Tx("t2", writes(("a", b"2")))])
    assert counting.batches == [{"sync": True}, {"sync": True}]
    assert counting.direct_writes == 0
    ledger.close()


def test_snapshots_never_see_half_a_block(ledger: Ledger) -> None:
    """Each block writes `a` and `b` to the same value (in different txs) and adds
    one key; a reader racing the committer must always see a == b and the key count
    that goes with them."""
    commit(ledger, [Tx("t0", writes(("a", b"0"), ("b", b"0")))])
    done = threading.Event()
    seen: list[int] = []
    errors: list[str] = []

    def reader() -> None:
        while not done.is_set():
            with ledger.snapshot() as snap:
                a, b = snap.get_state(CC, "a"), snap.get_state(CC, "b")
                count = len(list(snap.range(CC, "n/", "n0")))
                height = snap.height()
            if a is None or b is None or a.value != b.value:
                errors.append(f"a={a} b={b}")
            elif int(a.value) != count or height != count + 1:
                errors.append(f"value {a.value!r} with {count} keys at height {height}")
            else:
                seen.append(count)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in range(1, 60):
            value = str(n).encode()
            commit(
                ledger,
                [
                    Tx(f"a{n}", writes(("a", value))),
                    Tx(f"b{n}", writes(("b", value), (f"n/{n:03d}", b"k"))),
                ],
            )
    finally:
        done.set()
        thread.join()
    assert errors == []
    assert seen
