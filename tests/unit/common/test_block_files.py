"""Append-only block files: the committed end decides what counts; bytes past it (a
crash between the file write and the index batch) are discarded on open; a file
shorter than the index says is refused, never repaired."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from common import block as blk
from common.blockstore import BLOCK_FILES_DIR, LevelBlockStore
from common.blockstore.files import START, BlockFiles, BlockFilesError, FileEnd, FilePosition
from common.crashpoints import CRASH_ENV
from tests.unit.common.test_blockstore import _WRITER, _next_block


def test_written_bytes_read_back_at_their_position(tmp_path: Path) -> None:
    files = BlockFiles(tmp_path, START)
    first, end = files.write(b"alpha")
    files.advance(end)
    second, end = files.write(b"beta")
    files.advance(end)
    assert first == FilePosition(0, 4, 5)
    assert second == FilePosition(0, 13, 4)
    assert end == FileEnd(0, 17)
    assert files.read(first) == b"alpha"
    assert files.read(second) == b"beta"
    files.close()


def test_positions_and_ends_round_trip_through_bytes() -> None:
    assert FilePosition.decode(FilePosition(3, 1 << 40, 77).encode()) == FilePosition(
        3, 1 << 40, 77
    )
    assert FileEnd.decode(FileEnd(2, 12345).encode()) == FileEnd(2, 12345)


def test_a_full_file_rolls_over_to_the_next(tmp_path: Path) -> None:
    files = BlockFiles(tmp_path, START, max_file_size=64)
    positions = []
    for n in range(5):
        position, end = files.write(bytes([n]) * 30)
        files.advance(end)
        positions.append(position)
    assert [p.file for p in positions] == [0, 1, 2, 3, 4]
    assert [files.read(p) for p in positions] == [bytes([n]) * 30 for n in range(5)]
    files.close()
    assert sorted(os.listdir(tmp_path)) == [f"blockfile_00000{n}" for n in range(5)]


def test_a_write_never_committed_across_a_rollover_does_not_misplace_the_next(
    tmp_path: Path,
) -> None:
    files = BlockFiles(tmp_path, START, max_file_size=64)
    _, committed = files.write(b"a" * 30)
    files.advance(committed)
    files.write(b"b" * 40)  # rolls into file 1; its index batch "failed": no advance
    position, end = files.write(b"c" * 10)  # fits in file 0 after the committed end
    files.advance(end)
    assert position == FilePosition(0, committed.offset + 4, 10)
    assert files.read(position) == b"c" * 10
    later, end = files.write(b"d" * 40)  # rolls over again: file 1 starts empty
    files.advance(end)
    assert later == FilePosition(1, 4, 40)
    assert files.read(later) == b"d" * 40
    files.close()
    assert (tmp_path / "blockfile_000001").stat().st_size == 44


def test_an_uncommitted_tail_and_later_files_are_discarded_on_open(tmp_path: Path) -> None:
    files = BlockFiles(tmp_path, START, max_file_size=64)
    _, committed = files.write(b"x" * 30)
    files.advance(committed)
    files.write(b"y" * 20)  # never committed: the index still names `committed`
    files.write(b"z" * 40)  # rolled into file 1, never committed either
    files.close()
    assert (tmp_path / "blockfile_000001").exists()
    reopened = BlockFiles(tmp_path, committed, max_file_size=64)
    assert (tmp_path / "blockfile_000000").stat().st_size == committed.offset
    assert not (tmp_path / "blockfile_000001").exists()
    position, _ = reopened.write(b"w")
    assert position == FilePosition(0, committed.offset + 4, 1)
    reopened.close()


def test_a_file_shorter_than_the_index_says_is_refused(tmp_path: Path) -> None:
    files = BlockFiles(tmp_path, START)
    _, end = files.write(b"data" * 10)
    files.close()
    with open(tmp_path / "blockfile_000000", "r+b") as handle:
        handle.truncate(end.offset - 1)
    with pytest.raises(BlockFilesError) as refused:
        BlockFiles(tmp_path, end)
    assert refused.value.code == "BLOCK_STORE_CORRUPT"


def test_a_missing_file_is_refused_on_read(tmp_path: Path) -> None:
    files = BlockFiles(tmp_path, START)
    with pytest.raises(BlockFilesError) as refused:
        files.read(FilePosition(7, 4, 1))
    assert refused.value.code == "BLOCK_STORE_CORRUPT"
    files.close()


def test_a_read_after_close_is_refused_and_close_is_idempotent(tmp_path: Path) -> None:
    files = BlockFiles(tmp_path, START)
    position, end = files.write(b"abc")
    files.advance(end)
    assert files.read(position) == b"abc"
    files.close()
    files.close()
    with pytest.raises(BlockFilesError) as refused:
        files.read(position)
    assert refused.value.code == "BLOCK_STORE_CLOSED"


def test_the_store_keeps_block_bytes_in_files_not_in_leveldb(tmp_path: Path) -> None:
    path = tmp_path / "blocks"
    store = LevelBlockStore.open(str(path))
    block = _next_block(store, ["t0", "t1"])
    store.append(block)
    assert store.block_bytes(0) == block.SerializeToString(deterministic=True)
    store.close()
    data = (path / BLOCK_FILES_DIR / "blockfile_000000").read_bytes()
    assert data[4:] == block.SerializeToString(deterministic=True)


def test_sigkill_between_file_write_and_index_loses_only_the_unacknowledged_block(
    tmp_path: Path,
) -> None:
    path = tmp_path / "blocks"
    repo = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", _WRITER, str(path)],
        capture_output=True,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo), CRASH_ENV: "blockstore.after_file_write:6"},
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout.decode().split() == ["0", "1", "2", "3", "4"]
    files = path / BLOCK_FILES_DIR / "blockfile_000000"
    torn_size = files.stat().st_size
    store = LevelBlockStore.open(str(path))
    assert store.height() == 5
    assert files.stat().st_size < torn_size  # block 5's bytes, never indexed, are gone
    previous = None
    for block in store.blocks(0):
        if previous is not None:
            blk.verify_chain_link(previous, block)
        previous = block
    store.append(_next_block(store, ["after"]))
    assert store.tx_location("after") is not None
    store.close()
    reopened = LevelBlockStore.open(str(path))
    assert reopened.height() == 6
    reopened.close()
