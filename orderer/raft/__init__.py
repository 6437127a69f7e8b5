"""Raft consensus as a pure state machine (etcd-raft style) for the ordering service.

Import the public API from here: `RaftNode`, `RaftConfig`, `Ready`, `Message`, ...
Standard library only; no I/O, clock or threads (see DESIGN.md §6).
"""

from orderer.raft.log import RaftLog
from orderer.raft.node import PeerStatus, RaftNode, Status
from orderer.raft.progress import ProgressState
from orderer.raft.storage import (
    CompactedError,
    MemoryStorage,
    SnapshotOutOfDateError,
    Storage,
    StorageError,
    UnavailableError,
)
from orderer.raft.types import (
    EMPTY_HARD_STATE,
    EMPTY_SNAPSHOT,
    NO_NODE,
    Entry,
    EntryType,
    HardState,
    Index,
    Message,
    MessageType,
    NodeId,
    ProposalDropped,
    ProposalResult,
    Proposed,
    RaftConfig,
    RaftError,
    Ready,
    Role,
    Snapshot,
    SoftState,
    Term,
)

__all__ = [
    "EMPTY_HARD_STATE",
    "EMPTY_SNAPSHOT",
    "NO_NODE",
    "CompactedError",
    "Entry",
    "EntryType",
    "HardState",
    "Index",
    "MemoryStorage",
    "Message",
    "MessageType",
    "NodeId",
    "PeerStatus",
    "ProgressState",
    "ProposalDropped",
    "ProposalResult",
    "Proposed",
    "RaftConfig",
    "RaftError",
    "RaftLog",
    "RaftNode",
    "Ready",
    "Role",
    "Snapshot",
    "SnapshotOutOfDateError",
    "SoftState",
    "Status",
    "Storage",
    "StorageError",
    "Term",
    "UnavailableError",
]
