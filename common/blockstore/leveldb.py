"""Blocks on LevelDB (plyvel).

Keys, each under the store's `prefix` (so one database can hold other data too):

* `b` + number (8 bytes, big-endian) → the block's bytes, exactly as received
* `h` + header hash → number
* `t` + txid → number (8) ‖ position (4) ‖ validation code (1)
* `height` → height (8)

One `append` is one `WriteBatch(sync=True)`: after it returns the block and its
indexes are on disk together, or (after a crash mid-write) none of them are.
A caller that keeps more in the same database (the peer's state, history and
savepoint) passes `extra`, which adds its own (unprefixed) writes to the same raw
batch so a block and its effects commit atomically.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

import plyvel

from common.block import header_hash
from common.blockstore.base import BlockStoreError, TxLocation, check_next, index_entries
from common.leveldb import open_db
from protos.common import common_pb2

_BLOCK = b"b"
_HASH = b"h"
_TX = b"t"
_HEIGHT = b"height"
_U64 = struct.Struct(">Q")
_TXLOC = struct.Struct(">QIB")

WriteBatch = Any
"""plyvel's write batch (plyvel ships no type hints)."""


class LevelBlockStore:
    """A block store in a plyvel database, its keys under `prefix`."""

    def __init__(self, db: Any, prefix: bytes = b"") -> None:
        self._db = db
        self._block = prefix + _BLOCK
        self._hash = prefix + _HASH
        self._tx = prefix + _TX
        self._height_key = prefix + _HEIGHT
        raw = db.get(self._height_key)
        self._height = _U64.unpack(raw)[0] if raw is not None else 0
        self._last_hash: bytes | None = None
        if self._height > 0:
            last = self.block(self._height - 1)
            if last is None:
                raise BlockStoreError(
                    f"block store is corrupt: height {self._height} but block "
                    f"{self._height - 1} is missing",
                    code="BLOCK_STORE_CORRUPT",
                )
            self._last_hash = header_hash(last.header)

    @classmethod
    def open(cls, path: str) -> LevelBlockStore:
        """Open (creating if needed) a standalone store at `path`."""
        try:
            db = open_db(path)
        except plyvel.Error as exc:
            raise BlockStoreError(
                f"cannot open block store at {path}: {exc}", code="BLOCK_STORE_UNAVAILABLE"
            ) from None
        return cls(db)

    def close(self) -> None:
        self._db.close()

    def height(self) -> int:
        return self._height

    def append(
        self, block: common_pb2.Block, extra: Callable[[WriteBatch], None] | None = None
    ) -> None:
        check_next(block, self._height, self._last_hash)
        number = block.header.number
        digest = header_hash(block.header)
        batch = self._db.write_batch(sync=True)
        batch.put(self._block + _U64.pack(number), block.SerializeToString(deterministic=True))
        batch.put(self._hash + digest, _U64.pack(number))
        for txid, location in index_entries(block):
            key = self._tx + txid.encode()
            if self._db.get(key) is None:
                batch.put(key, _TXLOC.pack(number, location.tx_index, location.validation_code))
        batch.put(self._height_key, _U64.pack(number + 1))
        if extra is not None:
            extra(batch)
        batch.write()
        self._height = number + 1
        self._last_hash = digest

    def block_bytes(self, number: int) -> bytes | None:
        if not 0 <= number < self._height:
            return None
        raw: bytes | None = self._db.get(self._block + _U64.pack(number))
        return raw

    def block(self, number: int) -> common_pb2.Block | None:
        raw = self.block_bytes(number)
        return common_pb2.Block.FromString(raw) if raw is not None else None

    def block_by_hash(self, block_hash: bytes) -> common_pb2.Block | None:
        raw = self._db.get(self._hash + block_hash)
        return self.block(_U64.unpack(raw)[0]) if raw is not None else None

    def tx_location(self, txid: str) -> TxLocation | None:
        raw = self._db.get(self._tx + txid.encode())
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
                yield common_pb2.Block.FromString(value)
