"""Memory driver (a script, not a test): `Endorser.process_proposal` in-process over
N signed proposals (`bench` Put of a fresh key; every 10th a `Get`, every 50th a
`Fail`), against a LevelDB ledger, with VmRSS and (with --trace) tracemalloc diffs.

    .venv/bin/python -m tests.unit.memory.drive_endorse [--total N] [--step N] [--trace]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc

from peer.ledger import open_channel_ledger
from tests.unit.memory.trace import (
    diff,
    patch_leveldb_from_env,
    rss_kb,
    rss_parts,
    snapshot,
)
from tests.unit.peer.endorser.world import CHANNEL, make_world, propose


def main() -> None:
    patch_leveldb_from_env()
    parser = argparse.ArgumentParser()
    parser.add_argument("--total", type=int, default=100_000)
    parser.add_argument("--step", type=int, default=20_000)
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    world = make_world()
    with tempfile.TemporaryDirectory() as root:
        ledger = open_channel_ledger(root, CHANNEL)
        endorser = world.endorser(world.core_peer, ledger)
        warm = 5_000
        base = None
        start = time.perf_counter()
        for i in range(args.total + warm):
            if i % 50 == 49:
                fn, fargs = "Fail", {"code": "X", "message": "asked"}
            elif i % 10 == 9:
                fn, fargs = "Get", {"key": f"k{i}"}
            else:
                fn, fargs = "Put", {"key": f"k{i:08d}", "value": "v" * 40}
            signed, _ = propose(world.alice, fn, fargs)
            endorser.process_proposal(signed)
            done = i + 1
            if done == warm:
                if args.trace:
                    tracemalloc.start(1)
                    base = snapshot()
                print(f"warm {warm}: rss {rss_kb() / 1024:.1f} MiB ({rss_parts()})", flush=True)
                start = time.perf_counter()
            elif done > warm and (done - warm) % args.step == 0:
                n = done - warm
                rate = n / (time.perf_counter() - start)
                print(
                    f"after {n}: rss {rss_kb() / 1024:.1f} MiB ({rss_parts()}), "
                    f"{rate:,.0f} proposals/s",
                    flush=True,
                )
                if base is not None:
                    snap = snapshot()
                    print(
                        f"  traced {tracemalloc.get_traced_memory()[0] / 1024:,.0f} KiB\n"
                        + diff(base, snap, args.step, top=8),
                        flush=True,
                    )
                    base = snap
        ledger.close()


if __name__ == "__main__":
    main()
