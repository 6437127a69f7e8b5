"""Memory driver (a script, not a test): Broadcast admission + block cutter + Raft
driver/WAL + block store of an in-process cluster, over N signed envelopes, with
VmRSS, LevelDB's own memory estimate and (with --trace) tracemalloc diffs.

    .venv/bin/python -m tests.unit.memory.drive_orderer [--total N] [--step N]
        [--nodes 3] [--via leader|follower] [--trace]

Broadcast runs in ack-on-commit streaming mode (watches, submit_async), one stream
per 1000 envelopes, as a client connection would.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

from orderer.broadcast import BroadcastHandler
from protos.common import common_pb2
from protos.orderer import ab_pb2
from tests.unit.memory.trace import (
    diff,
    leveldb_files,
    leveldb_kb,
    patch_leveldb_from_env,
    rss_kb,
    rss_parts,
    snapshot,
)
from tests.unit.orderer.support import CHANNEL, Cluster, signed_envelope


def main() -> None:
    patch_leveldb_from_env()
    parser = argparse.ArgumentParser()
    parser.add_argument("--total", type=int, default=200_000)
    parser.add_argument("--step", type=int, default=20_000)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--via", choices=["leader", "follower"], default="leader")
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        cluster = Cluster(
            Path(root),
            args.nodes,
            max_message_count=500,
            batch_timeout_ms=50,
            snapshot_interval_blocks=20,
        )
        cluster.start_all()
        leader = cluster.leader()
        node = leader
        if args.via == "follower":
            node = next(n for n in cluster.nodes.values() if n.id != leader.id)
        handler = BroadcastHandler(node.registrar, cluster.metrics, ack_on_commit=True)

        def dbs() -> list[object]:
            return [d for n in cluster.nodes.values() for d in (n.storage._db, n.store._db)]

        signer = cluster.client
        payload = b"x" * 600
        warm = 10_000
        done = refused = 0
        base = first = None
        start = time.perf_counter()
        while done < args.total + warm:
            stream = (signed_envelope(CHANNEL, signer, payload) for _ in range(1000))
            for raw in handler.stream(stream, "driver"):
                if ab_pb2.BroadcastResponse.FromString(raw).status != common_pb2.SUCCESS:
                    refused += 1
            done += 1000
            if done == warm:
                if args.trace:
                    tracemalloc.start(8)
                    base = first = snapshot()
                print(f"warm {warm}: rss {rss_kb() / 1024:.1f} MiB", flush=True)
                start = time.perf_counter()
            elif done > warm and (done - warm) % args.step == 0:
                n = done - warm
                rate = n / (time.perf_counter() - start)
                watches = sum(len(x.driver._watches) for x in cluster.nodes.values())
                print(
                    f"after {n}: rss {rss_kb() / 1024:.1f} MiB ({rss_parts()}), leveldb "
                    f"{leveldb_kb(*dbs()) / 1024:.1f} MiB in {leveldb_files(*dbs())} files, "
                    f"height {node.store.height()}, {rate:,.0f} env/s, {refused} refused, "
                    f"{watches} watches",
                    flush=True,
                )
                if args.trace:
                    assert base is not None
                    snap = snapshot()
                    print(
                        f"  traced {tracemalloc.get_traced_memory()[0] / 1024:,.0f} KiB\n"
                        + diff(base, snap, args.step, top=8),
                        flush=True,
                    )
                    base = snap
        if first is not None and base is not None:
            print("whole run, by traceback:\n" + diff(first, base, args.total, key="traceback"))
        cluster.close()


if __name__ == "__main__":
    main()
