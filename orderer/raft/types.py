"""Value types of the Raft state machine: ids, entries, messages, states and `Ready`.

Everything here is a plain frozen dataclass or enum so that a transport can convert
it to protobuf at the edge and tests can compare values directly. Node ids are
positive integers; `NO_NODE` (0) means "nobody" (no vote cast, no known leader).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NewType

NodeId = NewType("NodeId", int)
Term = NewType("Term", int)
Index = NewType("Index", int)

NO_NODE = NodeId(0)
"""The absent node: no vote cast in this term, or no leader known."""

ENTRY_OVERHEAD_BYTES = 16
"""Bytes charged per entry on top of its data when enforcing size limits (a rough
stand-in for the term, index and type fields of the wire encoding)."""


class RaftError(Exception):
    """The caller broke the contract of the state machine (a programming error)."""


class EntryType(enum.IntEnum):
    """What an entry carries."""

    NORMAL = 0
    """Application data (for the orderer: one whole block)."""
    NOOP = 1
    """The empty entry a new leader appends so that it can commit entries of earlier
    terms (Raft §5.4.2, §8). Carries no data; the application skips it but must still
    count its index as applied."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry. Invariant: within a log, index is consecutive and term never
    decreases."""

    term: Term
    index: Index
    data: bytes = b""
    type: EntryType = EntryType.NORMAL

    def size(self) -> int:
        """Bytes this entry counts for against message/Ready size limits."""
        return len(self.data) + ENTRY_OVERHEAD_BYTES


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Application state covering every entry with index ≤ `index`.

    `term` is the term of the entry at `index`. `index == 0` means "no snapshot".
    `data` is opaque to Raft (for the orderer: the height of the block store).
    """

    index: Index = Index(0)
    term: Term = Term(0)
    data: bytes = b""

    @property
    def is_empty(self) -> bool:
        return self.index == 0


EMPTY_SNAPSHOT = Snapshot()


@dataclass(frozen=True, slots=True)
class HardState:
    """The state that must be durable before any message reflecting it is sent:
    the current term, the vote cast in it, and the highest index known committed."""

    term: Term = Term(0)
    vote: NodeId = NO_NODE
    commit: Index = Index(0)


EMPTY_HARD_STATE = HardState()


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state worth telling the driver about (it need not be persisted)."""

    leader: NodeId
    role: Role


class MessageType(enum.IntEnum):
    """Messages exchanged between nodes. Local triggers (elections, heartbeats,
    proposals) are methods of `RaftNode`, not messages."""

    APP = 1
    """Append entries `[index+1, index+len(entries)]` after (index, log_term);
    `commit` is the leader's commit index."""
    APP_RESP = 2
    """Accept: `index` is the follower's last index matching the leader. Reject:
    `index` echoes the rejected MsgApp.index, `reject_hint`/`log_term` say where the
    follower's log may match (fast back-off)."""
    VOTE = 3
    VOTE_RESP = 4
    PRE_VOTE = 5
    """Sent with term+1 of the sender, who does not change its term (Raft thesis §9.6)."""
    PRE_VOTE_RESP = 6
    HEARTBEAT = 7
    """`commit` is min(follower's match, leader's commit) so it never exceeds what the
    follower is known to hold."""
    HEARTBEAT_RESP = 8
    SNAP = 9
    """Carries `snapshot`; the follower replaces its log with it."""


VOTE_REQUESTS = frozenset({MessageType.VOTE, MessageType.PRE_VOTE})


@dataclass(frozen=True, slots=True)
class Message:
    """One Raft message. `term` is the sender's term except for PRE_VOTE (the term the
    sender would campaign at) and a granted PRE_VOTE_RESP (echoes that term)."""

    type: MessageType
    to: NodeId
    from_: NodeId
    term: Term
    log_term: Term = Term(0)
    index: Index = Index(0)
    entries: tuple[Entry, ...] = ()
    commit: Index = Index(0)
    reject: bool = False
    reject_hint: Index = Index(0)
    snapshot: Snapshot | None = None


@dataclass(frozen=True, slots=True)
class Ready:
    """Work the driver must do, in this order, then call `RaftNode.advance(ready)`:

    1. Persist durably (fsync), as one atomic step: `snapshot` (if any; it replaces
       the log up to its index), then `entries` (they may overwrite a suffix of the
       stored log: everything from `entries[0].index` on is replaced), then
       `hard_state` (if any).
    2. Send `messages` (after persisting: a vote or append acknowledgement must never
       reach a peer before the state it promises is durable).
    3. Apply: first `snapshot` (if any) to the state machine, then `committed_entries`
       in order. These are exactly the indices `[applied+1, applied+len]` — contiguous,
       never repeated, possibly including entries persisted in step 1.
    4. Call `advance(ready)`.

    `soft_state` is set only when the leader or role changed since the last Ready,
    `hard_state` only when it changed.
    """

    hard_state: HardState | None
    entries: tuple[Entry, ...]
    snapshot: Snapshot | None
    messages: tuple[Message, ...]
    committed_entries: tuple[Entry, ...]
    soft_state: SoftState | None

    @property
    def must_sync(self) -> bool:
        """Whether step 1 has anything to write (and fsync) at all."""
        return bool(self.entries) or self.snapshot is not None or self.hard_state is not None


@dataclass(frozen=True, slots=True)
class Proposed:
    """The proposal was appended to the leader's log at (index, term). It is not yet
    committed: it may still be lost if leadership changes before a quorum stores it."""

    index: Index
    term: Term


@dataclass(frozen=True, slots=True)
class ProposalDropped:
    """The proposal was not appended. `leader` is the leader this node knows of
    (`NO_NODE` if none), so the caller can forward the request there."""

    reason: str
    leader: NodeId


ProposalResult = Proposed | ProposalDropped


@dataclass(frozen=True, slots=True)
class RaftConfig:
    """Static configuration of one node of one Raft group.

    `peers` is the fixed voter set and must contain `id`. Election timeouts are drawn
    uniformly from `[election_tick, 2*election_tick)` ticks. `applied` is the highest
    index the application already applied before a restart (0: replay from the
    storage snapshot).
    """

    id: NodeId
    peers: tuple[NodeId, ...]
    election_tick: int = 10
    heartbeat_tick: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    max_entries_per_msg: int = 64
    max_bytes_per_msg: int = 1 << 20
    max_inflight: int = 256
    max_committed_bytes_per_ready: int = 0
    """0 = unlimited; otherwise at least one entry is returned per Ready."""
    applied: Index = Index(0)

    def validate(self) -> None:
        if self.id <= 0:
            raise RaftError(f"node id must be positive, got {self.id}")
        if self.id not in self.peers:
            raise RaftError(f"node {self.id} is not in peers {self.peers}")
        if any(p <= 0 for p in self.peers) or len(set(self.peers)) != len(self.peers):
            raise RaftError(f"peers must be distinct positive ids, got {self.peers}")
        if self.heartbeat_tick <= 0:
            raise RaftError("heartbeat_tick must be positive")
        if self.election_tick <= self.heartbeat_tick:
            raise RaftError("election_tick must be greater than heartbeat_tick")
        if self.max_inflight <= 0 or self.max_entries_per_msg <= 0:
            raise RaftError("max_inflight and max_entries_per_msg must be positive")
        if self.max_bytes_per_msg <= 0 or self.max_committed_bytes_per_ready < 0:
            raise RaftError("size limits must be positive (or 0 = unlimited for Ready)")
