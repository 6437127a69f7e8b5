"""A peer ledger's LevelDB folder copied while a process writes it (issue 9, item 2).

A subprocess commits blocks to a ledger as fast as it can (large values, so LevelDB
switches log files and compacts tables while we copy). The test copies the folder
file by file at random instants — what a naive backup does — and opens each copy.
Every copy must either open and be a correct ledger, or be refused with a named
error (`LedgerError` code `LEDGER_UNAVAILABLE`, `LEDGER_CORRUPT` or
`LEDGER_AHEAD_OF_SAVEPOINT`); never open silently wrong. "Correct" means:

* the savepoint names block `height - 1` and counts that block's transactions;
* blocks `[0, height)` are all there, numbered, hash-linked, with data hashes that
  match, and byte-for-byte equal to the blocks the writer committed (a prefix of
  the writer's chain: a copy may lose a suffix, like a crash would, never a middle);
* each block's commit hash record equals the writer's;
* the state equals a replay of those blocks into a fresh in-memory ledger.

A copy that fails while being made (a file vanished under a compaction) is retried;
those attempts are counted, not judged. (Such a copy cannot be judged: LevelDB
replays whatever log files it finds, so a copy that lost a log the writer deleted
after flushing it opens without that log's writes — a gap no store could notice
without reading everything.)
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from common import block as blk
from peer.ledger import LedgerError, MemoryLedger, open_channel_ledger
from peer.ledger.leveldb import LevelLedger
from tests.unit.peer.blocks import replay

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

REFUSAL_CODES = {"LEDGER_UNAVAILABLE", "LEDGER_CORRUPT", "LEDGER_AHEAD_OF_SAVEPOINT"}
COPIES = 12

_WRITER = textwrap.dedent(
    """
    import sys
    from peer.ledger import open_channel_ledger
    from tests.unit.peer.blocks import Tx, commit, writes

    ledger = open_channel_ledger(sys.argv[1], "trade")
    n = ledger.height()
    while True:
        txs = [
            Tx(f"b{n}t{i}", writes(
                (f"k{(n * 13 + i) % 300}", (f"{n}.{i}." * 400).encode()),
                (f"d{(n + i) % 50}", None if (n + i) % 4 == 0 else b"v" * 64),
            ))
            for i in range(24)
        ]
        commit(ledger, txs)
        print(n, flush=True)
        n += 1
    """
)


MAX_RACED = 500
"""Copy attempts that may race a compaction before the test gives up (a few dozen
are usual)."""


def _copy(src: Path, dst: Path) -> bool:
    try:
        shutil.copytree(src, dst)
        return True
    except (shutil.Error, FileNotFoundError):
        shutil.rmtree(dst, ignore_errors=True)
        return False


def _check_copy(copy_root: Path, original_root: Path) -> str:
    """'opened h=<height>' or 'refused <code>'; raises AssertionError if wrong."""
    try:
        ledger = open_channel_ledger(copy_root, "trade")
    except LedgerError as exc:
        refused = exc
    else:
        return _check_opened(ledger, original_root)
    if refused.code not in REFUSAL_CODES:
        raise AssertionError(f"refused with an unnamed error: {refused!r}")
    return f"refused {refused.code}"


def _check_opened(ledger: LevelLedger, original_root: Path) -> str:
    original = open_channel_ledger(original_root, "trade")
    try:
        height = ledger.height()
        savepoint = ledger.savepoint()
        assert height >= 1
        assert savepoint is not None
        assert savepoint.block_num == height - 1
        assert height <= original.height(), "the copy holds blocks the writer never wrote"
        previous = b""
        for n in range(height):
            block = ledger.block(n)
            assert block is not None, f"block {n} missing below height {height}"
            assert block.header.number == n
            assert block.header.previous_hash == previous, f"block {n} does not link"
            blk.verify_data_hash(block)
            assert ledger.block_bytes(n) == original.block_bytes(n), f"block {n} differs"
            assert ledger.commit_hash(n) == original.commit_hash(n), f"commit hash {n} differs"
            previous = blk.header_hash(block.header)
        last = ledger.block(height - 1)
        assert last is not None
        assert savepoint.tx_count == len(last.data.data)
        fresh = MemoryLedger()
        replay(ledger, fresh)
        assert fresh.height() == height
        assert fresh.state_hash() == ledger.state_hash(), "state differs from a replay"
        return f"opened h={height}"
    finally:
        ledger.close()
        original.close()


def test_a_folder_copied_mid_write_opens_correct_or_is_refused(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[3]
    live = tmp_path / "live"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(live)],
        stdout=subprocess.PIPE,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    rng = random.Random(9)
    copies: list[Path] = []
    raced = 0
    try:
        assert proc.stdout is not None
        for _ in range(20):  # some blocks first
            assert proc.stdout.readline()
        while len(copies) < COPIES:
            time.sleep(rng.uniform(0.0, 0.15))
            target = tmp_path / f"copy{len(copies)}"
            if _copy(live, target):
                copies.append(target)
            else:
                raced += 1
                assert raced < MAX_RACED, f"{raced} copies raced a compaction, {len(copies)} made"
            assert proc.poll() is None, "the writer died"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    outcomes = [_check_copy(c, live) for c in copies]
    print(f"copies: {outcomes}; {raced} copy attempts raced a compaction")
    assert any(o.startswith("opened") for o in outcomes)


def test_a_copy_missing_a_table_file_is_refused_with_a_code(tmp_path: Path) -> None:
    """A torn copy that lost a table file (copied before a compaction wrote it, after
    the MANIFEST naming it): LevelDB notices on open; the ledger says which code."""
    repo = Path(__file__).resolve().parents[3]
    live = tmp_path / "live"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(live)],
        stdout=subprocess.PIPE,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    try:
        assert proc.stdout is not None
        flushed_at = None
        for n in range(5000):  # until the first memtable flush has surely finished
            assert proc.stdout.readline()
            if flushed_at is None and any((live / "trade").glob("*.ldb")):
                flushed_at = n
            if flushed_at is not None and n >= flushed_at + 30:
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    copy = tmp_path / "copy"
    shutil.copytree(live, copy)
    tables = sorted((copy / "trade").glob("*.ldb"))
    assert tables, "no table file yet"
    # All of them: the oldest may be an obsolete one the killed writer had not
    # deleted yet, which the MANIFEST no longer names; a live one is among the rest.
    for table in tables:
        table.unlink()
    with pytest.raises(LedgerError) as refused:
        open_channel_ledger(copy, "trade")
    assert refused.value.code == "LEDGER_UNAVAILABLE"
    assert "missing" in str(refused.value) or "No such file" in str(refused.value)
