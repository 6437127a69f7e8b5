"""Memory driver (a script, not a test): the peer's commit path — `BlockValidator`
(2 threads) + `Committer` + LevelDB ledger + listeners (`TxStatusWaiters`,
`BlockNotifier`, the regulator's `IndicatorListener`) — over blocks prepared by
`gen_blocks`, with VmRSS (after `gc.collect()`) at each checkpoint and, with
`--trace`, tracemalloc diffs by allocation site.

    .venv/bin/python -m tests.unit.memory.drive_commit BLOCKS_FILE [--trace]
        [--checkpoints 20000,50000,100000,200000]

CommitStatus waiters: for each block, 4 of its txids are waited for from a pool of
threads (as the Gateway does, in slices) and 4 never-committed txids are waited for
with a short timeout (clients that went away).
"""

from __future__ import annotations

import argparse
import struct
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from common.blockstore.base import tx_ids
from common.config.bundle import ChannelBundle
from common.config.channel import ChannelConfig
from peer.committer import Committer, TxStatusWaiters
from peer.deliver import BlockNotifier
from peer.ledger import open_channel_ledger
from peer.regulator.indicators import IndicatorListener
from peer.regulator.store import IndicatorStore
from peer.validator import BlockValidator, ThreadExecutor
from protos.common import common_pb2
from protos.scf import config_pb2
from tests.unit.memory.trace import (
    diff,
    leveldb_kb,
    patch_leveldb_from_env,
    rss_kb,
    rss_parts,
    snapshot,
)

_LEN = struct.Struct(">I")
CHANNEL = "trade"


def records(path: str) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while head := f.read(_LEN.size):
            yield f.read(_LEN.unpack(head)[0])


def main() -> None:
    patch_leveldb_from_env()
    parser = argparse.ArgumentParser()
    parser.add_argument("blocks_file")
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--checkpoints", default="20000,50000,100000,200000")
    args = parser.parse_args()
    checkpoints = [int(c) for c in args.checkpoints.split(",")]
    source = records(args.blocks_file)
    config = config_pb2.ChannelConfig.FromString(next(source))
    bundle = ChannelBundle(ChannelConfig.from_proto(config))
    genesis = common_pb2.Block.FromString(next(source))
    with tempfile.TemporaryDirectory() as root, ThreadPoolExecutor(16) as pool:
        ledger = open_channel_ledger(Path(root) / "ledgers", CHANNEL)
        store = IndicatorStore.open(Path(root) / "regulator.db")
        waiters = TxStatusWaiters(ledger)
        notifier = BlockNotifier(ledger)
        listener = IndicatorListener(CHANNEL, ledger, store)
        committer = Committer(
            ledger,
            bundle,
            validator=BlockValidator(bundle, ThreadExecutor(bundle, 2)),
            listeners=[waiters, notifier, listener],
        )
        committer.commit_block(genesis)
        print(f"start: rss {rss_kb() / 1024:.1f} MiB", flush=True)
        txs = invalid = last = 0
        base = first = None
        if args.trace:
            tracemalloc.start(8)
            base = first = snapshot()
        pending: list[Future[object]] = []
        start = time.perf_counter()
        for raw in source:
            block = common_pb2.Block.FromString(raw)
            ids = tx_ids(block)
            pending = [f for f in pending if not f.done()]
            for txid in ids[:4]:
                pending.append(pool.submit(waiters.wait, txid, 5.0))
            for i in range(4):
                pending.append(pool.submit(waiters.wait, f"gone-{block.header.number}-{i}", 0.01))
            event = committer.commit_block(block)
            invalid += sum(1 for c in event.codes if c)
            before = txs
            txs += len(ids)
            reached = [c for c in checkpoints if before < c <= txs]
            if not reached:
                continue
            for f in pending:
                f.result()
            pending = []
            rate = txs / (time.perf_counter() - start)
            print(
                f"after {txs}: rss {rss_kb() / 1024:.1f} MiB ({rss_parts()}), "
                f"leveldb {leveldb_kb(ledger._db, store._db) / 1024:.1f} MiB, "
                f"height {ledger.height()}, "
                f"{invalid} invalid, {rate:,.0f} tx/s, waiting {len(waiters._waiting)}, "
                f"done {len(waiters._done)}",
                flush=True,
            )
            if args.trace:
                assert base is not None
                snap = snapshot()
                print(
                    f"  traced {tracemalloc.get_traced_memory()[0] / 1024:,.0f} KiB\n"
                    + diff(base, snap, txs - last, top=10),
                    flush=True,
                )
                base = snap
            last = txs
        if args.trace and first is not None and base is not None:
            print("whole run, by traceback:\n" + diff(first, base, txs, key="traceback", top=8))
        committer.close()
        store.close()
        ledger.close()


if __name__ == "__main__":
    main()
