"""Ledger commit throughput: blocks of 500 transactions × 2 writes each.

Run: `.venv/bin/python -m tests.unit.peer.bench_ledger [blocks] [txs] [dir]`. Prints the
commit rate (the `Ledger.commit` call alone: one sync batch per block) and the rate
including MVCC validation. A script, not a timed test.
"""

from __future__ import annotations

import sys
import tempfile
import time

from peer.ledger import LevelLedger
from peer.validator import validate_block
from tests.unit.peer.blocks import Tx, envelope, next_block, parse, writes


def main() -> None:
    blocks = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    per_block = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    with tempfile.TemporaryDirectory(dir=sys.argv[3] if len(sys.argv) > 3 else None) as root:
        ledger = LevelLedger.open(root + "/ledger")
        commit_time = validate_time = 0.0
        for n in range(blocks):
            txs = [
                Tx(
                    f"b{n}t{i}",
                    writes(
                        (f"acct/{(n * per_block + i) % 20000:06d}", b"x" * 64),
                        (f"inv/{n:05d}/{i:04d}", b"y" * 128),
                    ),
                )
                for i in range(per_block)
            ]
            block = next_block(ledger, [envelope(tx) for tx in txs])
            parsed = [parse(entry) for entry in block.data.data]
            start = time.perf_counter()
            result = validate_block(n, parsed, ledger)
            middle = time.perf_counter()
            ledger.commit(block, result.codes, result.writes)
            end = time.perf_counter()
            validate_time += middle - start
            commit_time += end - middle
        ledger.close()
    print(f"{blocks} blocks × {per_block} txs × 2 writes")
    print(
        f"commit only:       {blocks / commit_time:7.1f} blocks/s  "
        f"{blocks * per_block / commit_time:9.0f} tx/s"
    )
    total = commit_time + validate_time
    print(
        f"MVCC + commit:     {blocks / total:7.1f} blocks/s  {blocks * per_block / total:9.0f} tx/s"
    )


if __name__ == "__main__":
    main()
