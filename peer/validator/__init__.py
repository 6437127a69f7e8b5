"""Validation of ordered blocks: block checks, per-tx checks (signatures and
policies may run in parallel), then MVCC in block order."""

from peer.validator.blockcheck import BlockRefused, verify_block
from peer.validator.mvcc import (
    MVCC_READ_CONFLICT,
    PHANTOM_READ_CONFLICT,
    VALID,
    BlockTx,
    CommittedState,
    MvccResult,
    validate_block,
)
from peer.validator.signatures import (
    InlineExecutor,
    ProcessExecutor,
    SignatureChecker,
    SignatureExecutor,
    SignatureJob,
    ThreadExecutor,
)
from peer.validator.validator import BlockValidator, TxInfo, ValidatedBlock, ValidatorLedger

__all__ = [
    "MVCC_READ_CONFLICT",
    "PHANTOM_READ_CONFLICT",
    "VALID",
    "BlockRefused",
    "BlockTx",
    "BlockValidator",
    "CommittedState",
    "InlineExecutor",
    "MvccResult",
    "ProcessExecutor",
    "SignatureChecker",
    "SignatureExecutor",
    "SignatureJob",
    "ThreadExecutor",
    "TxInfo",
    "ValidatedBlock",
    "ValidatorLedger",
    "validate_block",
    "verify_block",
]
