"""Append-only block storage shared by the orderer and the peer."""

from common.blockstore.base import BlockStore, BlockStoreError, TxLocation
from common.blockstore.leveldb import BLOCK_FILES_DIR, LevelBlockStore
from common.blockstore.memory import MemoryBlockStore

__all__ = [
    "BLOCK_FILES_DIR",
    "BlockStore",
    "BlockStoreError",
    "LevelBlockStore",
    "MemoryBlockStore",
    "TxLocation",
]
