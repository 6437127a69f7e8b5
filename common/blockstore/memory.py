"""An in-memory block store with the same behaviour as the LevelDB one, for unit
tests of the layers above it."""

from __future__ import annotations

from collections.abc import Iterator

from common.block import header_hash
from common.blockstore.base import TxLocation, check_next, index_entries
from protos.common import common_pb2


class MemoryBlockStore:
    def __init__(self) -> None:
        self._blocks: list[bytes] = []
        self._by_hash: dict[bytes, int] = {}
        self._txs: dict[str, TxLocation] = {}
        self._last_hash: bytes | None = None

    def height(self) -> int:
        return len(self._blocks)

    def append(self, block: common_pb2.Block) -> None:
        check_next(block, len(self._blocks), self._last_hash)
        for txid, location in index_entries(block):
            self._txs.setdefault(txid, location)
        digest = header_hash(block.header)
        self._blocks.append(block.SerializeToString(deterministic=True))
        self._by_hash[digest] = block.header.number
        self._last_hash = digest

    def block_bytes(self, number: int) -> bytes | None:
        return self._blocks[number] if 0 <= number < len(self._blocks) else None

    def block(self, number: int) -> common_pb2.Block | None:
        raw = self.block_bytes(number)
        return common_pb2.Block.FromString(raw) if raw is not None else None

    def block_by_hash(self, block_hash: bytes) -> common_pb2.Block | None:
        number = self._by_hash.get(block_hash)
        return self.block(number) if number is not None else None

    def tx_location(self, txid: str) -> TxLocation | None:
        return self._txs.get(txid)

    def blocks(self, start: int, stop: int | None = None) -> Iterator[common_pb2.Block]:
        end = len(self._blocks) if stop is None else min(stop, len(self._blocks))
        for number in range(max(start, 0), end):
            yield common_pb2.Block.FromString(self._blocks[number])
