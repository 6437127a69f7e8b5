"""The block store: ordering, indexes, reopen, and durability across SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from common import block as blk
from common.blockstore import (
    BlockStore,
    BlockStoreError,
    LevelBlockStore,
    MemoryBlockStore,
    TxLocation,
)
from protos.common import common_pb2


def _envelope(txid: str) -> bytes:
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.ENDORSER_TRANSACTION, channel_id="trade", tx_id=txid
    )
    payload = common_pb2.Payload(
        header=common_pb2.Header(channel_header=channel_header.SerializeToString())
    )
    return common_pb2.Envelope(payload=payload.SerializeToString()).SerializeToString()


def _next_block(store: BlockStore, txids: list[str]) -> common_pb2.Block:
    height = store.height()
    previous = b"" if height == 0 else blk.header_hash(store.block(height - 1).header)  # type: ignore[union-attr]
    return blk.new_block(height, previous, [_envelope(t) for t in txids])


@pytest.fixture(params=["leveldb", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlockStore:
    if request.param == "memory":
        return MemoryBlockStore()
    return LevelBlockStore.open(str(tmp_path / "blocks"))


def test_append_indexes_by_number_hash_and_txid(store: BlockStore) -> None:
    for n in range(3):
        store.append(_next_block(store, [f"tx{n}a", f"tx{n}b"]))
    assert store.height() == 3
    second = store.block(1)
    assert second is not None
    assert store.block_by_hash(blk.header_hash(second.header)) == second
    assert store.tx_location("tx2b") == TxLocation(2, 1, 0)
    assert store.tx_location("missing") is None
    assert [b.header.number for b in store.blocks(1)] == [1, 2]
    assert [b.header.number for b in store.blocks(0, 2)] == [0, 1]


def test_duplicate_txid_keeps_first_location(store: BlockStore) -> None:
    store.append(_next_block(store, ["dup", "dup"]))
    store.append(_next_block(store, ["dup"]))
    assert store.tx_location("dup") == TxLocation(0, 0, 0)


def test_gap_and_broken_link_are_refused(store: BlockStore) -> None:
    store.append(_next_block(store, ["a"]))
    gap = blk.new_block(5, b"", [_envelope("b")])
    with pytest.raises(BlockStoreError) as caught:
        store.append(gap)
    assert caught.value.code == "BLOCK_OUT_OF_ORDER"
    broken = blk.new_block(1, b"\x00" * 32, [_envelope("c")])
    with pytest.raises(BlockStoreError) as caught:
        store.append(broken)
    assert caught.value.code == "PREVIOUS_HASH_MISMATCH"
    assert store.height() == 1


def test_index_prefers_the_valid_occurrence_and_skips_duplicates(store: BlockStore) -> None:
    block = _next_block(store, ["t", "t", "u", "u"])
    # t: a forged copy (bad creator signature, 8) precedes the valid one.
    # u: the valid one comes first, the repeat is marked DUPLICATE_TXID (9).
    block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER] = bytes([8, 0, 0, 9])
    store.append(block)
    assert store.tx_location("t") == TxLocation(0, 1, 0)
    assert store.tx_location("u") == TxLocation(0, 2, 0)


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    path = str(tmp_path / "blocks")
    store = LevelBlockStore.open(path)
    for n in range(4):
        store.append(_next_block(store, [f"t{n}"]))
    store.close()
    reopened = LevelBlockStore.open(path)
    assert reopened.height() == 4
    assert reopened.tx_location("t3") == TxLocation(3, 0, 0)
    reopened.append(_next_block(reopened, ["t4"]))
    assert reopened.height() == 5


def test_validation_codes_from_transactions_filter_are_indexed(tmp_path: Path) -> None:
    store = LevelBlockStore.open(str(tmp_path / "blocks"))
    block = _next_block(store, ["ok", "bad"])
    block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER] = bytes([0, 11])
    store.append(block)
    assert store.tx_location("bad") == TxLocation(0, 1, 11)


_WRITER = textwrap.dedent(
    """
    import sys
    from common import block as blk
    from common.blockstore import LevelBlockStore
    from tests.unit.common.test_blockstore import _next_block
    store = LevelBlockStore.open(sys.argv[1])
    while True:
        block = _next_block(store, [f"tx{store.height()}-{i}" for i in range(20)])
        store.append(block)
        print(block.header.number, flush=True)
    """
)


def test_sigkill_never_loses_a_returned_append(tmp_path: Path) -> None:
    path = str(tmp_path / "blocks")
    repo = Path(__file__).resolve().parents[3]
    for round_ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, path],
            stdout=subprocess.PIPE,
            cwd=repo,
            env={**os.environ, "PYTHONPATH": str(repo)},
        )
        assert proc.stdout is not None
        acknowledged = -1
        for _ in range(30 + 17 * round_):
            line = proc.stdout.readline()
            if not line:
                break
            acknowledged = int(line)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        store = LevelBlockStore.open(path)
        assert acknowledged >= 0
        assert store.height() >= acknowledged + 1
        previous = None
        for block in store.blocks(0):
            if previous is not None:
                blk.verify_chain_link(previous, block)
            previous = block
        store.close()
