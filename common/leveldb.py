"""How every LevelDB (plyvel) database of a node is opened: `open_db`, `DB_OPTIONS`.

LevelDB reads table files through `mmap`, and each page a read touches stays in the
process's RSS (file-backed) while the table is open (up to `max_open_files`). Without
a filter, a lookup of an absent key — the block store's per-txid "already indexed?"
check, MVCC reads of new keys — reads an index and a data block of every table whose
key range covers it, so over a run the resident part of the tables grows with the
database (≈ 8 MB per 100k transactions on an orderer). A bloom filter (10 bits per
key, ~1 % false positives) answers nearly all of those from the filter block, so
only present keys are read.

`DB_OPTIONS` also states the in-memory bounds explicitly (they are LevelDB's
defaults): an 8 MiB block cache and a 4 MiB memtable per database. Opening an
existing database with these options is compatible either way: tables written
without a filter are read without one, new tables get one.
"""

from __future__ import annotations

import os
from typing import Any, Final

import plyvel

__all__ = ["BLOOM_FILTER_BITS", "DB_OPTIONS", "open_db"]

BLOOM_FILTER_BITS: Final = 10

DB_OPTIONS: Final[dict[str, int]] = {
    "bloom_filter_bits": BLOOM_FILTER_BITS,
    "lru_cache_size": 8 << 20,
    "write_buffer_size": 4 << 20,
}
"""Keyword arguments for `plyvel.DB`, besides the path and `create_if_missing`."""


def open_db(path: str | os.PathLike[str]) -> Any:
    """`plyvel.DB(path, create_if_missing=True, **DB_OPTIONS)`; raises `plyvel.Error`
    (or `OSError`) as plyvel does."""
    return plyvel.DB(os.fspath(path), create_if_missing=True, **DB_OPTIONS)
