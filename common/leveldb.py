"""How every LevelDB (plyvel) database of a node is opened: `open_db`, `DB_OPTIONS`.

`make setup` builds plyvel against a LevelDB whose mmap limit is 0
(`tools/build-plyvel.sh`), so table files are read with `pread` through the kernel's
page cache, which is not the process's RSS. The PyPI wheel's LevelDB maps up to 1000
table files instead, and each page a read or a compaction touches stays in the
process's RSS (file-backed) while the table is open: +20–25 MB during compactions,
and the whole database under random reads (`tests/unit/common/test_leveldb_no_mmap.py`
fails on it). Reads cost a copy into the block cache instead: ≈ 1 µs more per random
`get` of a present key (≈ 350k/s instead of ≈ 520k/s on a 230 MB database), and
writes are as fast.

Without a filter, a lookup of an absent key — the block store's per-txid "already
indexed?" check, MVCC reads of new keys — reads an index and a data block of every
table whose key range covers it (with mmap, the resident part of the tables grew with
the database: ≈ 8 MB per 100k transactions on an orderer). A bloom filter (10 bits
per key, ~1 % false positives) answers nearly all of those from the filter block, so
only present keys are read.

Compaction, not the writes themselves, is what a node's database costs over a
long run: random keys (txids, state, history) make every memtable flush overlap
every table of the next level, so data is rewritten many times. Measured on the
default network under blind-write (`scf bench --max`, 45–60 s rounds back to back):
with blocks in the database, snappy and a 4 MiB memtable the native compaction
thread was 45 % of the regulator peer's CPU and every node's CPU per transaction grew
round after round (throughput 511 → 453 → 401 tx/s); without compression it stayed
flat (505 / 550 / 497 tx/s), and with a 16 MiB memtable it was lower again (611 /
615 / 582 tx/s) — but two 16 MiB memtables per database swung a node's RSS by up to
±15 %. Block bytes now live in append-only files (`common.blockstore.files`), so the
database holds only keys, indexes and state, and a 4 MiB memtable costs about what
16 MiB did with the blocks inside (589 / 581 tx/s). The data is mostly signatures,
hashes and certificates, which snappy barely shrinks for the CPU it costs on every
compaction.

`DB_OPTIONS` states the in-memory bounds explicitly: an 8 MiB block cache and a
4 MiB memtable per database (LevelDB keeps at most two memtables, the active one
and the one being flushed). With tables read by `pread`, a compaction's input
tables (up to ≈ 25 MB: four level-0 tables and the level-1 tables they overlap) pass
through the page cache instead of staying resident until it finishes; the block
cache, which LevelDB left empty for mapped tables, now fills to its 8 MiB (reads
that are never repeated, the block store's txid lookups, bypass it), and the index
and filter blocks of open tables are heap memory instead of mapped pages.

Opening an existing database with these options is compatible either way: tables
written without a filter or with snappy (the build keeps snappy for them) are read as
written, new tables get a filter and no compression.
"""

from __future__ import annotations

import os
from typing import Any, Final

import plyvel

__all__ = ["BLOOM_FILTER_BITS", "DB_OPTIONS", "open_db"]

BLOOM_FILTER_BITS: Final = 10

DB_OPTIONS: Final[dict[str, int | None]] = {
    "bloom_filter_bits": BLOOM_FILTER_BITS,
    "lru_cache_size": 8 << 20,
    "write_buffer_size": 4 << 20,
    "compression": None,
}
"""Keyword arguments for `plyvel.DB`, besides the path and `create_if_missing`."""


def open_db(path: str | os.PathLike[str]) -> Any:
    """`plyvel.DB(path, create_if_missing=True, **DB_OPTIONS)`; raises `plyvel.Error`
    (or `OSError`) as plyvel does."""
    return plyvel.DB(os.fspath(path), create_if_missing=True, **DB_OPTIONS)
