"""Rebuild the regulator's indicator tables from the blocks of the peer's ledgers.

    python -m peer.regulator.rebuild <peer data dir> [--channel C ...]

Run it with the peer stopped (LevelDB allows one process per database). Layout:
ledgers in `<data dir>/ledgers/<channel>/`, indicators in `<data dir>/regulator.db`.
The result equals the incrementally kept tables (same `apply_block`); the command
prints each channel's block count and table digest so two runs can be compared.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from peer.ledger import open_channel_ledger
from peer.regulator.indicators import rebuild
from peer.regulator.store import IndicatorStore

LEDGERS = "ledgers"
INDICATORS = "regulator.db"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m peer.regulator.rebuild")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--channel", action="append", default=[])
    args = parser.parse_args(argv)
    ledgers = args.data_dir / LEDGERS
    channels = args.channel or sorted(p.name for p in ledgers.iterdir() if p.is_dir())
    store = IndicatorStore.open(args.data_dir / INDICATORS)
    try:
        for channel in channels:
            ledger = open_channel_ledger(ledgers, channel)
            try:
                blocks = rebuild(ledger, store, channel)
            finally:
                ledger.close()
            print(f"{channel}: {blocks} blocks, tables {store.digest(channel).hex()}")
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
