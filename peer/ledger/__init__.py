"""The peer's ledger: blocks, tx index, versioned state, key history, savepoint and
per-block commit hashes, committed together in one atomic batch per block.

`LevelLedger` keeps one channel in one plyvel database (`open_channel_ledger`);
`MemoryLedger` is its in-memory twin for unit tests. Key layout and the commit-hash
recipe: `peer.ledger.codec`. Read/write sets and their Fabric encoding:
`peer.ledger.rwset`.
"""

from peer.ledger.codec import block_commit_hash
from peer.ledger.leveldb import LevelLedger, LevelSnapshot, open_channel_ledger
from peer.ledger.memory import MemoryLedger, MemorySnapshot
from peer.ledger.types import (
    NO_COMMIT_HASH,
    Height,
    Ledger,
    LedgerError,
    LedgerSnapshot,
    Namespace,
    TxId,
    TxWrites,
    Version,
    VersionedValue,
    Write,
)

__all__ = [
    "NO_COMMIT_HASH",
    "Height",
    "Ledger",
    "LedgerError",
    "LedgerSnapshot",
    "LevelLedger",
    "LevelSnapshot",
    "MemoryLedger",
    "MemorySnapshot",
    "Namespace",
    "TxId",
    "TxWrites",
    "Version",
    "VersionedValue",
    "Write",
    "block_commit_hash",
    "open_channel_ledger",
]
