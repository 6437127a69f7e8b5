"""Blocks in append-only files (`common.blockstore.files`), indexed in LevelDB (plyvel).

Keys, each under the store's `prefix` (so one database can hold other data too):

* `b` + number (8 bytes, big-endian) → where its bytes are: file (4) ‖ offset (8) ‖
  length (4); the bytes are the block exactly as received
* `h` + header hash → number
* `t` + txid → number (8) ‖ position (4) ‖ validation code (1)
* `height` → height (8)
* `end` → the block files' committed end: file (4) ‖ offset (8)

The block files live in `blockfiles/` inside the database's directory (LevelDB
leaves names it did not make alone), so one directory is one store: a copy of it
is a copy of the store.

One `append` writes the block's bytes to the files (synced), then one
`WriteBatch(sync=True)` with its indexes and the new end: that batch is the commit
point. After it returns the block and its indexes are on disk together; after a
crash before it, the bytes past the old end are discarded on open. A caller that
keeps more in the same database (the peer's state, history and savepoint) passes
`extra`, which adds its own (unprefixed) writes to the same raw batch so a block and
its effects commit atomically.

Txid lookups read with `fill_cache=False`: txids are hashes, so the data block one
lookup reads (a key present, or a bloom filter's false positive for an absent one,
≈ 1 %) is never the one the next lookup needs, and each peer makes three of them per
transaction (endorser, validator and `append` duplicate checks). Cached, those
blocks filled a fresh node's 8 MiB block cache with nothing it would read again
over its first ten minutes under load: most of the growth of its live heap.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import plyvel

from common.block import header_hash
from common.blockstore.base import BlockStoreError, TxLocation, check_next, index_entries
from common.blockstore.files import START, BlockFiles, FileEnd, FilePosition
from common.crashpoints import crash_point
from common.leveldb import open_db
from protos.common import common_pb2

_BLOCK = b"b"
_HASH = b"h"
_TX = b"t"
_HEIGHT = b"height"
_END = b"end"
BLOCK_FILES_DIR = "blockfiles"
"""The block files' folder inside the database's directory."""
_U64 = struct.Struct(">Q")
_TXLOC = struct.Struct(">QIB")

WriteBatch = Any
"""plyvel's write batch (plyvel ships no type hints)."""


class LevelBlockStore:
    """A block store: indexes in a plyvel database under `prefix`, bytes in the block
    files in `files_dir`."""

    def __init__(self, db: Any, files_dir: Path, prefix: bytes = b"") -> None:
        self._db = db
        self._block = prefix + _BLOCK
        self._hash = prefix + _HASH
        self._tx = prefix + _TX
        self._height_key = prefix + _HEIGHT
        self._end_key = prefix + _END
        raw = db.get(self._height_key)
        self._height = _U64.unpack(raw)[0] if raw is not None else 0
        raw_end = db.get(self._end_key)
        if self._height > 0 and raw_end is None:
            raise BlockStoreError(
                f"block store is corrupt: height {self._height} but no block-file end",
                code="BLOCK_STORE_CORRUPT",
            )
        self._files = BlockFiles(files_dir, FileEnd.decode(raw_end) if raw_end else START)
        try:
            self._last_hash = self._read_last_hash()
        except BaseException:
            self._files.close()
            raise

    def _read_last_hash(self) -> bytes | None:
        if self._height == 0:
            return None
        last = self.block(self._height - 1)
        if last is None:
            raise BlockStoreError(
                f"block store is corrupt: height {self._height} but block "
                f"{self._height - 1} is missing",
                code="BLOCK_STORE_CORRUPT",
            )
        return header_hash(last.header)

    @classmethod
    def open(cls, path: str) -> LevelBlockStore:
        """Open (creating if needed) a standalone store at `path`."""
        try:
            db = open_db(path)
        except plyvel.Error as exc:
            raise BlockStoreError(
                f"cannot open block store at {path}: {exc}", code="BLOCK_STORE_UNAVAILABLE"
            ) from None
        try:
            return cls(db, Path(path) / BLOCK_FILES_DIR)
        except BaseException:
            db.close()
            raise

    def close(self) -> None:
        """Close the block files and the database (a standalone store owns both)."""
        self.close_files()
        self._db.close()

    def close_files(self) -> None:
        """Close the block files only (the database belongs to the caller)."""
        self._files.close()

    def height(self) -> int:
        return self._height

    def append(
        self, block: common_pb2.Block, extra: Callable[[WriteBatch], None] | None = None
    ) -> None:
        check_next(block, self._height, self._last_hash)
        number = block.header.number
        digest = header_hash(block.header)
        position, end = self._files.write(block.SerializeToString(deterministic=True))
        crash_point("blockstore.after_file_write")
        batch = self._db.write_batch(sync=True)
        batch.put(self._block + _U64.pack(number), position.encode())
        batch.put(self._hash + digest, _U64.pack(number))
        for txid, location in index_entries(block):
            key = self._tx + txid.encode()
            if self._db.get(key, fill_cache=False) is None:
                batch.put(key, _TXLOC.pack(number, location.tx_index, location.validation_code))
        batch.put(self._height_key, _U64.pack(number + 1))
        batch.put(self._end_key, end.encode())
        if extra is not None:
            extra(batch)
        batch.write()
        self._files.advance(end)
        self._height = number + 1
        self._last_hash = digest

    def block_bytes(self, number: int) -> bytes | None:
        if not 0 <= number < self._height:
            return None
        raw: bytes | None = self._db.get(self._block + _U64.pack(number))
        return self._files.read(FilePosition.decode(raw)) if raw is not None else None

    def block(self, number: int) -> common_pb2.Block | None:
        raw = self.block_bytes(number)
        return common_pb2.Block.FromString(raw) if raw is not None else None

    def block_by_hash(self, block_hash: bytes) -> common_pb2.Block | None:
        raw = self._db.get(self._hash + block_hash)
        return self.block(_U64.unpack(raw)[0]) if raw is not None else None

    def tx_location(self, txid: str) -> TxLocation | None:
        raw = self._db.get(self._tx + txid.encode(), fill_cache=False)
        if raw is None:
            return None
        number, position, code = _TXLOC.unpack(raw)
        return TxLocation(number, position, code)

    def blocks(self, start: int, stop: int | None = None) -> Iterator[common_pb2.Block]:
        end = self._height if stop is None else min(stop, self._height)
        if start >= end:
            return
        iterator = self._db.iterator(
            start=self._block + _U64.pack(max(start, 0)), stop=self._block + _U64.pack(end)
        )
        with iterator:
            for _key, value in iterator:
                yield common_pb2.Block.FromString(self._files.read(FilePosition.decode(value)))
