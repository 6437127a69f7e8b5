"""Validation of ordered blocks: per-tx checks, then MVCC in block order."""

from peer.validator.mvcc import (
    MVCC_READ_CONFLICT,
    PHANTOM_READ_CONFLICT,
    VALID,
    BlockTx,
    CommittedState,
    MvccResult,
    validate_block,
)

__all__ = [
    "MVCC_READ_CONFLICT",
    "PHANTOM_READ_CONFLICT",
    "VALID",
    "BlockTx",
    "CommittedState",
    "MvccResult",
    "validate_block",
]
