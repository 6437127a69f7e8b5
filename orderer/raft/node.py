"""`RaftNode`: the driver-facing API over the state machine, after etcd-raft's
`RawNode` — feed it ticks, messages and proposals; collect `Ready`s; `advance`.

Typical driver loop (one Raft group)::

    node = RaftNode(config, storage, random.Random(seed))
    while running:
        ... node.tick() every tick interval; node.step(m) for each message received;
            node.propose(block_bytes) on the leader ...
        while node.has_ready():
            rd = node.ready()
            storage.apply_snapshot(rd.snapshot)   # if any  } one durable,
            storage.append(rd.entries)            #          } atomic write
            storage.set_hard_state(rd.hard_state) # if any  } (fsync)
            transport.send(rd.messages)
            app.restore(rd.snapshot); app.apply(rd.committed_entries)
            node.advance(rd)

At most one `Ready` may be outstanding: `ready()` raises `RaftError` until the
previous one is advanced, and `has_ready()` is False meanwhile. `step`/`tick`/
`propose` may be called while a Ready is outstanding.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from orderer.raft.core import Raft
from orderer.raft.log import RaftLog
from orderer.raft.progress import ProgressState
from orderer.raft.storage import Storage
from orderer.raft.types import (
    Index,
    Message,
    NodeId,
    ProposalResult,
    RaftConfig,
    RaftError,
    Ready,
    Role,
    Term,
)


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """The leader's view of one peer (for diagnostics and metrics)."""

    match: Index
    next: Index
    state: ProgressState
    recent_active: bool


@dataclass(frozen=True, slots=True)
class Status:
    """A snapshot of a node's volatile state. `peers` is filled only on the leader."""

    id: NodeId
    term: Term
    vote: NodeId
    leader: NodeId
    role: Role
    commit: Index
    applied: Index
    first_index: Index
    last_index: Index
    peers: dict[NodeId, PeerStatus]


class RaftNode:
    """One node of one Raft group. See the module docstring for the driver contract."""

    def __init__(self, config: RaftConfig, storage: Storage, rng: random.Random) -> None:
        self._raft = Raft(config, storage, rng)
        self._prev_soft = self._raft.soft_state()
        self._prev_hard = self._raft.hard_state()
        self._outstanding: Ready | None = None

    # -- inputs -----------------------------------------------------------------

    def tick(self) -> None:
        """Advance logical time by one tick (election/heartbeat timers)."""
        self._raft.tick()

    def step(self, msg: Message) -> None:
        """Process a message from a peer. Messages not addressed to this node, from
        outside the group, or stale are ignored (never raise on bad input)."""
        self._raft.step(msg)

    def propose(self, data: bytes) -> ProposalResult:
        """Append `data` as a new entry if this node is the leader; otherwise return
        `ProposalDropped` naming the known leader, for the caller to forward to."""
        return self._raft.propose(data)

    def campaign(self) -> None:
        """Start an election now (a pre-vote first if enabled), as if timed out."""
        self._raft.hup()

    def report_snapshot(self, to: NodeId, *, success: bool) -> None:
        """Tell the leader whether the MsgSnap it asked to send to `to` was delivered
        (resumes replication to `to` sooner than the built-in timeout)."""
        self._raft.report_snapshot(to, success=success)

    def report_unreachable(self, to: NodeId) -> None:
        """Tell the leader a message to `to` could not be sent (stops streaming to it)."""
        self._raft.report_unreachable(to)

    # -- outputs ----------------------------------------------------------------

    def has_ready(self) -> bool:
        """Whether `ready()` would return any work (False while a Ready is outstanding)."""
        if self._outstanding is not None:
            return False
        r = self._raft
        log = r.log
        return bool(
            r.msgs
            or log.unstable.entries
            or log.unstable.snapshot is not None
            or log.has_next_committed_entries()
            or r.soft_state() != self._prev_soft
            or r.hard_state() != self._prev_hard
        )

    def ready(self) -> Ready:
        """Collect the work accumulated since the last Ready (see `Ready` for the
        order in which the driver must carry it out). Messages are handed over now:
        they will not be returned again."""
        if self._outstanding is not None:
            raise RaftError("ready() called again before advance()")
        r = self._raft
        log = r.log
        soft = r.soft_state()
        hard = r.hard_state()
        rd = Ready(
            hard_state=hard if hard != self._prev_hard else None,
            entries=log.unstable_entries(),
            snapshot=log.unstable.snapshot,
            messages=tuple(r.msgs),
            committed_entries=tuple(
                log.next_committed_entries(r.config.max_committed_bytes_per_ready)
            ),
            soft_state=soft if soft != self._prev_soft else None,
        )
        r.msgs = []
        self._prev_soft = soft
        self._prev_hard = hard
        self._outstanding = rd
        return rd

    def advance(self, rd: Ready) -> None:
        """The driver has persisted, sent and applied `rd` (the last `ready()`)."""
        if rd is not self._outstanding:
            raise RaftError("advance() with a Ready that is not the outstanding one")
        self._outstanding = None
        log = self._raft.log
        if rd.snapshot is not None:
            log.stable_snap_to(rd.snapshot.index)
            if rd.snapshot.index > log.applied:
                log.applied_to(rd.snapshot.index)
        if rd.committed_entries:
            log.applied_to(rd.committed_entries[-1].index)
        if rd.entries:
            last = rd.entries[-1]
            log.stable_to(last.index, last.term)

    # -- views ------------------------------------------------------------------

    @property
    def id(self) -> NodeId:
        return self._raft.id

    @property
    def term(self) -> Term:
        return self._raft.term

    @property
    def leader_id(self) -> NodeId:
        """The leader this node knows of (`NO_NODE` if none)."""
        return self._raft.lead

    @property
    def role(self) -> Role:
        return self._raft.role

    @property
    def is_leader(self) -> bool:
        return self._raft.role is Role.LEADER

    @property
    def log(self) -> RaftLog:
        """The in-memory log (read-only use: tests and diagnostics)."""
        return self._raft.log

    def status(self) -> Status:
        r = self._raft
        peers: dict[NodeId, PeerStatus] = {}
        if r.role is Role.LEADER:
            peers = {
                p: PeerStatus(pr.match, pr.next, pr.state, pr.recent_active)
                for p, pr in r.prs.items()
            }
        return Status(
            id=r.id,
            term=r.term,
            vote=r.vote,
            leader=r.lead,
            role=r.role,
            commit=r.log.committed,
            applied=r.log.applied,
            first_index=r.log.first_index(),
            last_index=r.log.last_index(),
            peers=peers,
        )
