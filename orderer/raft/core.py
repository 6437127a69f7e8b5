"""The Raft consensus state machine (Ongaro & Ousterhout 2014; thesis 2014 for
pre-vote and check-quorum), after etcd-raft's `raft.go`.

Pure: no I/O, no clock, no threads. Inputs are `step(message)`, `tick()` and
`propose(data)`; outputs accumulate in `msgs` and in the log's unstable part and are
handed to the driver by `RaftNode.ready()` (node.py). Randomness (election timeouts)
comes only from the `random.Random` given at construction.

Safety rests on the driver's order: persist (hard state, entries) → send → apply.
Every message that promises something (a vote, an append acknowledgement) is
produced together with the state it promises, so it is durable before it leaves.
"""

from __future__ import annotations

import random

from orderer.raft.log import RaftLog
from orderer.raft.progress import Progress, ProgressState
from orderer.raft.storage import Storage
from orderer.raft.types import (
    EMPTY_HARD_STATE,
    NO_NODE,
    VOTE_REQUESTS,
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
    Role,
    SoftState,
    Term,
)

_VOTE_RESP = {
    MessageType.VOTE: MessageType.VOTE_RESP,
    MessageType.PRE_VOTE: MessageType.PRE_VOTE_RESP,
}
_MT = MessageType


class Raft:
    """State of one node of one Raft group (fixed voter set `config.peers`)."""

    def __init__(self, config: RaftConfig, storage: Storage, rng: random.Random) -> None:
        config.validate()
        self.config = config
        self.id = config.id
        self.voters: tuple[NodeId, ...] = tuple(sorted(config.peers))
        self.quorum = len(self.voters) // 2 + 1
        self.rng = rng
        self.log = RaftLog(storage)
        self.term = Term(0)
        self.vote = NO_NODE
        self.lead = NO_NODE
        self.role = Role.FOLLOWER
        self.msgs: list[Message] = []
        self.votes: dict[NodeId, bool] = {}
        self.prs: dict[NodeId, Progress] = {}
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = config.election_tick

        hs = storage.initial_state()
        if hs != EMPTY_HARD_STATE:
            self._load_state(hs)
        if config.applied > 0:
            self.log.applied_to(config.applied)
        self._become_follower(self.term, NO_NODE)

    def _load_state(self, hs: HardState) -> None:
        # A snapshot's prefix is committed even if the hard state lags behind it.
        commit = max(hs.commit, self.log.committed)
        if commit > self.log.last_index():
            raise RaftError(f"hard state commit {hs.commit} beyond last {self.log.last_index()}")
        self.log.committed = Index(commit)
        self.term = hs.term
        self.vote = hs.vote

    # -- views ------------------------------------------------------------------

    def hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)

    def soft_state(self) -> SoftState:
        return SoftState(self.lead, self.role)

    # -- role transitions -------------------------------------------------------

    def _reset(self, term: Term) -> None:
        if self.term != term:
            self.term = term
            self.vote = NO_NODE
        self.lead = NO_NODE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        et = self.config.election_tick
        self.randomized_election_timeout = et + self.rng.randrange(et)
        self.votes = {}
        nxt = Index(self.log.last_index() + 1)
        self.prs = {p: Progress(nxt, self.config.max_inflight) for p in self.voters}
        self.prs[self.id].match = self.log.last_index()

    def _become_follower(self, term: Term, lead: NodeId) -> None:
        self._reset(term)
        self.lead = lead
        self.role = Role.FOLLOWER

    def _become_pre_candidate(self) -> None:
        # Neither term nor vote changes: a pre-candidate that cannot win leaves no trace.
        self.votes = {}
        self.lead = NO_NODE
        self.role = Role.PRE_CANDIDATE

    def _become_candidate(self) -> None:
        self._reset(Term(self.term + 1))
        self.vote = self.id
        self.role = Role.CANDIDATE

    def _become_leader(self) -> None:
        self._reset(self.term)
        self.lead = self.id
        self.role = Role.LEADER
        me = self.prs[self.id]
        me.become_replicate()
        me.recent_active = True
        # An entry of the new term lets us commit entries of earlier terms (§5.4.2).
        self._append_entries([(EntryType.NOOP, b"")])

    # -- time -------------------------------------------------------------------

    def tick(self) -> None:
        if self.role is Role.LEADER:
            self._tick_heartbeat()
        else:
            self._tick_election()

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.election_elapsed >= self.randomized_election_timeout:
            self.election_elapsed = 0
            self.hup()

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.config.election_tick:
            self.election_elapsed = 0
            if self.config.check_quorum:
                self._check_quorum()
                if self.role is not Role.LEADER:
                    return
        for pid, pr in self.prs.items():
            if pr.state is ProgressState.SNAPSHOT and pid != self.id:
                pr.snapshot_ticks += 1
        if self.heartbeat_elapsed >= self.config.heartbeat_tick:
            self.heartbeat_elapsed = 0
            self._bcast_heartbeat()

    def _check_quorum(self) -> None:
        """Leader lease (thesis §6.2): step down if a quorum has not been heard from
        within the last election timeout."""
        self.prs[self.id].recent_active = True
        active = sum(1 for pr in self.prs.values() if pr.recent_active)
        if active < self.quorum:
            self._become_follower(self.term, NO_NODE)
            return
        for pid, pr in self.prs.items():
            if pid != self.id:
                pr.recent_active = False

    # -- elections --------------------------------------------------------------

    def hup(self) -> None:
        """Start an election (a pre-vote first if enabled), unless already leader."""
        if self.role is Role.LEADER:
            return
        if self.config.pre_vote:
            self._campaign(pre=True)
        else:
            self._campaign(pre=False)

    def _campaign(self, *, pre: bool) -> None:
        if pre:
            self._become_pre_candidate()
            mtype, term = _MT.PRE_VOTE, Term(self.term + 1)
        else:
            self._become_candidate()
            mtype, term = _MT.VOTE, self.term
        if self._poll(self.id, granted=True) is True:
            self._won(pre=pre)  # single-node group
            return
        li, lt = self.log.last_index(), self.log.last_term()
        for p in self.voters:
            if p != self.id:
                self.msgs.append(Message(mtype, p, self.id, term, log_term=lt, index=li))

    def _won(self, *, pre: bool) -> None:
        if pre:
            self._campaign(pre=False)
        else:
            self._become_leader()
            self._bcast_append()

    def _poll(self, voter: NodeId, *, granted: bool) -> bool | None:
        """Record a vote; True if won, False if lost, None if still undecided."""
        self.votes.setdefault(voter, granted)
        yes = sum(1 for v in self.votes.values() if v)
        if yes >= self.quorum:
            return True
        if len(self.votes) - yes > len(self.voters) - self.quorum:
            return False
        return None

    def _in_lease(self) -> bool:
        return (
            self.config.check_quorum
            and self.lead != NO_NODE
            and self.election_elapsed < self.config.election_tick
        )

    # -- input ------------------------------------------------------------------

    def step(self, m: Message) -> None:
        if m.to != self.id or m.from_ not in self.prs or m.from_ == self.id:
            return  # misrouted or from outside the group
        if m.term > self.term:
            if m.type in VOTE_REQUESTS and self._in_lease():
                # We heard from a live leader within the minimum election timeout:
                # a disruptive (rejoining) node must not depose it (thesis §4.2.3).
                return
            if m.type is _MT.PRE_VOTE:
                pass  # never change term for a pre-vote
            elif m.type is _MT.PRE_VOTE_RESP and not m.reject:
                pass  # granted pre-votes carry our future term; it is bumped on winning
            elif m.type in (_MT.APP, _MT.HEARTBEAT, _MT.SNAP):
                self._become_follower(m.term, m.from_)
            else:
                self._become_follower(m.term, NO_NODE)
        elif m.term < self.term:
            if (self.config.check_quorum or self.config.pre_vote) and m.type in (
                _MT.HEARTBEAT,
                _MT.APP,
            ):
                # A stale leader cut off from us: tell it our term so it steps down;
                # otherwise (with pre-vote) we could never depose it nor it us.
                self.msgs.append(Message(_MT.APP_RESP, m.from_, self.id, self.term))
            elif m.type is _MT.PRE_VOTE:
                self.msgs.append(
                    Message(_MT.PRE_VOTE_RESP, m.from_, self.id, self.term, reject=True)
                )
            return

        if m.type in VOTE_REQUESTS:
            self._handle_vote_request(m)
        elif self.role is Role.LEADER:
            self._step_leader(m)
        elif self.role is Role.FOLLOWER:
            self._step_follower(m)
        else:
            self._step_candidate(m)

    def _handle_vote_request(self, m: Message) -> None:
        can_vote = (
            self.vote == m.from_
            or (self.vote == NO_NODE and self.lead == NO_NODE)
            or (m.type is _MT.PRE_VOTE and m.term > self.term)
        )
        resp = _VOTE_RESP[m.type]
        # §5.4.1: only for a candidate whose log is at least as up-to-date as ours.
        if can_vote and self.log.is_up_to_date(m.index, m.log_term):
            self.msgs.append(Message(resp, m.from_, self.id, m.term))
            if m.type is _MT.VOTE:
                self.election_elapsed = 0
                self.vote = m.from_
        else:
            self.msgs.append(Message(resp, m.from_, self.id, self.term, reject=True))

    def _step_candidate(self, m: Message) -> None:
        mine = _MT.PRE_VOTE_RESP if self.role is Role.PRE_CANDIDATE else _MT.VOTE_RESP
        t = m.type
        if t is _MT.APP:
            self._become_follower(m.term, m.from_)
            self._handle_append(m)
        elif t is _MT.HEARTBEAT:
            self._become_follower(m.term, m.from_)
            self._handle_heartbeat(m)
        elif t is _MT.SNAP:
            self._become_follower(m.term, m.from_)
            self._handle_snapshot(m)
        elif t is mine:
            res = self._poll(m.from_, granted=not m.reject)
            if res is True:
                self._won(pre=self.role is Role.PRE_CANDIDATE)
            elif res is False:
                self._become_follower(self.term, NO_NODE)

    def _step_follower(self, m: Message) -> None:
        t = m.type
        if t in (_MT.APP, _MT.HEARTBEAT, _MT.SNAP):
            self.election_elapsed = 0
            self.lead = m.from_
            if t is _MT.APP:
                self._handle_append(m)
            elif t is _MT.HEARTBEAT:
                self._handle_heartbeat(m)
            else:
                self._handle_snapshot(m)

    # -- follower handlers ------------------------------------------------------

    def _handle_append(self, m: Message) -> None:
        log = self.log
        if m.index < log.committed:
            self.msgs.append(
                Message(_MT.APP_RESP, m.from_, self.id, self.term, index=log.committed)
            )
            return
        last_new = log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if last_new is not None:
            self.msgs.append(Message(_MT.APP_RESP, m.from_, self.id, self.term, index=last_new))
            return
        # §5.3 mismatch. Hint the largest index whose term is ≤ the leader's term at
        # m.index: entries above it cannot match, so the leader can skip them all.
        hint = log.find_conflict_by_term(Index(min(m.index, log.last_index())), m.log_term)
        self.msgs.append(
            Message(
                _MT.APP_RESP,
                m.from_,
                self.id,
                self.term,
                index=m.index,
                reject=True,
                reject_hint=hint,
                log_term=log.term(hint),
            )
        )

    def _handle_heartbeat(self, m: Message) -> None:
        # The leader sends min(our match, its commit), so this is within our log.
        self.log.commit_to(Index(min(m.commit, self.log.last_index())))
        self.msgs.append(Message(_MT.HEARTBEAT_RESP, m.from_, self.id, self.term))

    def _handle_snapshot(self, m: Message) -> None:
        snap = m.snapshot
        if snap is None or snap.is_empty:
            return
        log = self.log
        if snap.index <= log.committed:
            idx = log.committed  # stale snapshot: we already have all of it
        elif log.match_term(snap.index, snap.term):
            # Our log already contains the snapshot's last entry: fast-forward commit.
            log.commit_to(snap.index)
            idx = log.committed
        else:
            log.restore(snap)
            idx = log.last_index()
        self.msgs.append(Message(_MT.APP_RESP, m.from_, self.id, self.term, index=idx))

    # -- leader -----------------------------------------------------------------

    def propose(self, data: bytes) -> ProposalResult:
        if self.role is not Role.LEADER:
            return ProposalDropped(f"node {self.id} is {self.role.value}", self.lead)
        e = self._append_entries([(EntryType.NORMAL, data)])
        self._bcast_append()
        return Proposed(e.index, e.term)

    def _append_entries(self, items: list[tuple[EntryType, bytes]]) -> Entry:
        li = self.log.last_index()
        ents = [Entry(self.term, Index(li + 1 + k), d, t) for k, (t, d) in enumerate(items)]
        last = self.log.append(ents)
        # The leader counts itself at once: its entries are persisted before any
        # MsgApp carrying them is sent, hence before any follower can acknowledge.
        self.prs[self.id].maybe_update(last)
        self._maybe_commit()
        return ents[-1]

    def _maybe_commit(self) -> bool:
        matches = sorted((pr.match for pr in self.prs.values()), reverse=True)
        return self.log.maybe_commit(matches[self.quorum - 1], self.term)

    def _bcast_append(self) -> None:
        for p in self.voters:
            if p != self.id:
                self._send_append(p, send_if_empty=True)

    def _bcast_heartbeat(self) -> None:
        committed = self.log.committed
        for p in self.voters:
            if p != self.id:
                c = Index(min(self.prs[p].match, committed))
                self.msgs.append(Message(_MT.HEARTBEAT, p, self.id, self.term, commit=c))

    def _send_append(self, to: NodeId, *, send_if_empty: bool) -> bool:
        """Send `to` the next entries (or a snapshot if they are compacted). False
        if nothing was sent (paused by flow control, or nothing new)."""
        pr = self.prs[to]
        if pr.is_paused():
            return False
        log = self.log
        prev = Index(pr.next - 1)
        prev_term = log.term(prev)
        cfg = self.config
        ents = log.entries_from(pr.next, cfg.max_entries_per_msg, cfg.max_bytes_per_msg)
        if ents is None or (prev_term == 0 and prev > 0):
            if not pr.recent_active:
                return False  # don't ship a snapshot to a node that may be down
            snap = log.snapshot()
            if snap.is_empty:
                raise RaftError(f"need a snapshot to reach {to} at {pr.next}, have none")
            pr.become_snapshot(snap.index)
            self.msgs.append(Message(_MT.SNAP, to, self.id, self.term, snapshot=snap))
            return True
        if not ents and not send_if_empty:
            return False
        if ents:
            last = ents[-1].index
            if pr.state is ProgressState.REPLICATE:
                pr.optimistic_update(last)
                pr.inflights.add(last)
            else:
                pr.probe_sent = True
        self.msgs.append(
            Message(
                _MT.APP,
                to,
                self.id,
                self.term,
                log_term=prev_term,
                index=prev,
                entries=tuple(ents),
                commit=log.committed,
            )
        )
        return True

    def _step_leader(self, m: Message) -> None:
        pr = self.prs[m.from_]
        t = m.type
        if t is _MT.APP_RESP:
            pr.recent_active = True
            if m.reject:
                hint = m.reject_hint
                if m.log_term > 0:
                    hint = self.log.find_conflict_by_term(hint, m.log_term)
                if pr.maybe_decr_to(m.index, hint):
                    if pr.state is ProgressState.REPLICATE:
                        pr.become_probe()
                    self._send_append(m.from_, send_if_empty=True)
                return
            old_paused = pr.is_paused()
            if not pr.maybe_update(m.index):
                return
            if pr.state is ProgressState.PROBE:
                pr.become_replicate()
            elif pr.state is ProgressState.SNAPSHOT:
                # Any acknowledgement from which the log can take over will do.
                if pr.match + 1 >= self.log.first_index():
                    pr.become_probe()
                    pr.become_replicate()
            else:
                pr.inflights.free_le(m.index)
            if self._maybe_commit():
                self._bcast_append()
            elif old_paused:
                self._send_append(m.from_, send_if_empty=True)
            # Flow control may now allow several messages; send all we can.
            while self._send_append(m.from_, send_if_empty=False):
                pass
        elif t is _MT.HEARTBEAT_RESP:
            pr.recent_active = True
            pr.probe_sent = False
            if pr.state is ProgressState.REPLICATE and pr.inflights.full():
                pr.inflights.free_first_one()
            elif pr.state is ProgressState.SNAPSHOT and (
                pr.snapshot_ticks >= self.config.election_tick
            ):
                # The MsgSnap (or its answer) was probably lost and nobody called
                # report_snapshot: fall back to probing, which re-sends it if needed.
                pr.pending_snapshot = Index(0)
                pr.become_probe()
            if pr.match < self.log.last_index():
                self._send_append(m.from_, send_if_empty=True)

    def report_snapshot(self, to: NodeId, *, success: bool) -> None:
        """The driver's transport finished sending a MsgSnap to `to`."""
        pr = self.prs.get(to)
        if self.role is not Role.LEADER or pr is None or pr.state is not ProgressState.SNAPSHOT:
            return
        if not success:
            pr.pending_snapshot = Index(0)
        pr.become_probe()
        # Wait for a heartbeat response before probing again.
        pr.probe_sent = True

    def report_unreachable(self, to: NodeId) -> None:
        """The driver's transport could not deliver a message to `to`."""
        pr = self.prs.get(to)
        if self.role is Role.LEADER and pr is not None and pr.state is ProgressState.REPLICATE:
            pr.become_probe()
