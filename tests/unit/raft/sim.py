"""A deterministic in-memory network of `RaftNode`s, driven by one seed.

Each node has a `MemoryStorage` playing its disk (only what a Ready persisted
survives a crash) and an `AppState` (the replicated state machine, durable like the
orderer's block store; a restart may also lose it and rebuild from the snapshot).
The network holds messages in flight; the schedule decides which one is delivered
next (reordering, delay), and may drop or duplicate them, partition the nodes,
crash and restart nodes, compact logs, tick clocks and propose data. Every Ready is
processed in the driver's order (persist → send → apply → advance) and the
`SafetyChecker` runs after every step.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from orderer.raft import (
    Index,
    MemoryStorage,
    Message,
    MessageType,
    NodeId,
    ProposalResult,
    Proposed,
    RaftConfig,
    RaftNode,
)
from tests.unit.raft.invariants import AppState, SafetyChecker, check_log_matching


@dataclass(frozen=True)
class SimConfig:
    n: int = 3
    election_tick: int = 10
    heartbeat_tick: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    max_inflight: int = 256
    max_entries_per_msg: int = 64
    max_bytes_per_msg: int = 1 << 20
    drop_rate: float = 0.0
    """Probability that a message is lost when sent."""

    def raft_config(self, nid: NodeId, applied: Index) -> RaftConfig:
        return RaftConfig(
            id=nid,
            peers=tuple(NodeId(i) for i in range(1, self.n + 1)),
            election_tick=self.election_tick,
            heartbeat_tick=self.heartbeat_tick,
            pre_vote=self.pre_vote,
            check_quorum=self.check_quorum,
            max_inflight=self.max_inflight,
            max_entries_per_msg=self.max_entries_per_msg,
            max_bytes_per_msg=self.max_bytes_per_msg,
            applied=applied,
        )


class Cluster:
    """N nodes with ids 1..N on a simulated network."""

    def __init__(self, cfg: SimConfig, seed: int) -> None:
        self.cfg = cfg
        self.rng = random.Random(seed)
        self.ids = [NodeId(i) for i in range(1, cfg.n + 1)]
        self.storages = {i: MemoryStorage() for i in self.ids}
        self.apps = {i: AppState() for i in self.ids}
        self.nodes: dict[NodeId, RaftNode] = {}
        self.inflight: list[Message] = []
        self.group: dict[NodeId, int] = dict.fromkeys(self.ids, 0)
        self.checker = SafetyChecker()
        self.drop_rate = cfg.drop_rate
        self.trace: list[str] | None = None
        for i in self.ids:
            self._start(i)

    # -- lifecycle --------------------------------------------------------------

    def _start(self, nid: NodeId) -> None:
        node_rng = random.Random(self.rng.getrandbits(64))
        self.nodes[nid] = RaftNode(
            self.cfg.raft_config(nid, Index(self.apps[nid].index)), self.storages[nid], node_rng
        )

    def crash(self, nid: NodeId) -> None:
        """Lose all volatile state of `nid` (Raft memory, unsent messages)."""
        self._log(f"crash {nid}")
        self.nodes.pop(nid, None)

    def restart(self, nid: NodeId, *, keep_app: bool = True) -> None:
        """Start `nid` again from its storage; without `keep_app` the application
        state is rebuilt from the storage snapshot (and entries after it replayed)."""
        self._log(f"restart {nid} keep_app={keep_app}")
        if not keep_app:
            snap = self.storages[nid].snapshot()
            self.apps[nid] = AppState.decode(snap.data)
        self._start(nid)
        self.process(nid)

    def down(self) -> list[NodeId]:
        return [i for i in self.ids if i not in self.nodes]

    # -- network ----------------------------------------------------------------

    def partition(self, *groups: Iterable[NodeId]) -> None:
        """Nodes in different groups cannot talk; nodes not named form one more group."""
        self._log(f"partition {[sorted(g) for g in groups]}")
        self.group = dict.fromkeys(self.ids, 0)
        for k, g in enumerate(groups, start=1):
            for nid in g:
                self.group[nid] = k

    def heal(self) -> None:
        self._log("heal")
        self.group = dict.fromkeys(self.ids, 0)

    def connected(self, a: NodeId, b: NodeId) -> bool:
        return self.group[a] == self.group[b]

    def _send(self, sender: RaftNode, msgs: Iterable[Message]) -> None:
        for m in msgs:
            if self.drop_rate and self.rng.random() < self.drop_rate:
                if m.type is MessageType.SNAP and self.rng.random() < 0.5:
                    sender.report_snapshot(m.to, success=False)
                continue
            self.inflight.append(m)

    def deliver_at(self, k: int, *, duplicate: bool = False) -> None:
        """Deliver in-flight message number k (leaving a copy in flight if `duplicate`)."""
        q = self.inflight
        m = q[k]
        if not duplicate:
            q[k] = q[-1]
            q.pop()
        self._deliver(m)

    def _deliver(self, m: Message) -> None:
        node = self.nodes.get(m.to)
        if node is None or not self.connected(m.from_, m.to):
            return
        if self.trace is not None:
            self._log(f"deliver {m.type.name} {m.from_}->{m.to} t{m.term} i{m.index}")
        node.step(m)
        self.process(m.to)

    def deliver_next(self) -> None:
        """Deliver the oldest in-flight message."""
        self._deliver(self.inflight.pop(0))

    def deliver_random(self) -> None:
        if self.inflight:
            self.deliver_at(self.rng.randrange(len(self.inflight)))

    def drop_random(self) -> None:
        if self.inflight:
            q = self.inflight
            k = self.rng.randrange(len(q))
            q[k] = q[-1]
            q.pop()

    def deliver_all(self, limit: int = 200_000) -> None:
        """Deliver messages in FIFO order until none is left in flight."""
        n = 0
        while self.inflight:
            batch, self.inflight = self.inflight, []
            for m in batch:
                self._deliver(m)
            n += len(batch)
            if n > limit:
                raise AssertionError("messages never quiesce")

    # -- inputs -----------------------------------------------------------------

    def tick(self, nid: NodeId) -> None:
        node = self.nodes.get(nid)
        if node is not None:
            node.tick()
            self.process(nid)

    def tick_all(self) -> None:
        for nid in self.ids:
            self.tick(nid)

    def propose(self, nid: NodeId, data: bytes) -> ProposalResult | None:
        node = self.nodes.get(nid)
        if node is None:
            return None
        res = node.propose(data)
        self._log(f"propose at {nid}: {res}")
        self.process(nid)
        return res

    def leader(self) -> NodeId | None:
        """The live leader with the highest term, if any."""
        best: tuple[int, NodeId] | None = None
        for nid, n in self.nodes.items():
            if n.is_leader and (best is None or n.term > best[0]):
                best = (n.term, nid)
        return best[1] if best else None

    def compact(self, nid: NodeId, keep: int = 0) -> None:
        """Snapshot `nid`'s application state and drop its log up to `keep` entries
        before the snapshot (as the orderer does after writing blocks)."""
        st, app = self.storages[nid], self.apps[nid]
        if app.index <= st.snapshot().index:
            return
        st.create_snapshot(Index(app.index), app.encode())
        upto = Index(app.index - keep)
        if upto >= st.first_index():
            st.compact(upto)
        self._log(f"compact {nid} snap={app.index} upto={upto}")

    # -- the driver -------------------------------------------------------------

    def process(self, nid: NodeId) -> None:
        """Handle every pending Ready of `nid`: persist → send → apply → advance."""
        node = self.nodes[nid]
        st, chk = self.storages[nid], self.checker
        while node.has_ready():
            rd = node.ready()
            if rd.snapshot is not None:
                st.apply_snapshot(rd.snapshot)
            if rd.entries:
                st.append(rd.entries)
                chk.on_persist(nid, st, rd.entries)
            if rd.hard_state is not None:
                st.set_hard_state(rd.hard_state)
            self._send(node, rd.messages)
            if rd.snapshot is not None:
                self.apps[nid] = chk.on_restore(nid, self.apps[nid], rd.snapshot)
            app = self.apps[nid]
            for e in rd.committed_entries:
                chk.on_apply(nid, app, e)
            node.advance(rd)
        chk.after_step(self.nodes)

    def check_final(self) -> None:
        check_log_matching(self.storages)

    def _log(self, line: str) -> None:
        if self.trace is not None:
            self.trace.append(line)

    # -- liveness ---------------------------------------------------------------

    def heal_and_commit(self, max_ticks: int) -> int:
        """Heal the network, restart every node, stop dropping; then a leader must
        emerge and a new proposal must be applied on all nodes within `max_ticks`
        ticks (each tick: every node ticks, then all messages are delivered).
        Returns the number of ticks it took."""
        self.heal()
        self.drop_rate = 0.0
        for nid in self.down():
            self.restart(nid)
        self.deliver_all()
        pending: Proposed | None = None
        for t in range(max_ticks):
            lead = self.leader()
            if pending is not None:
                got = self.checker.committed_terms.get(pending.index)
                lost = got is not None and got != pending.term
                if got is None and lead is not None:
                    lost = self.nodes[lead].log.term(pending.index) != pending.term
                if lost:
                    pending = None  # lost to a leader change: propose again
                elif all(a.index >= pending.index for a in self.apps.values()):
                    return t
            if pending is None and lead is not None:
                res = self.propose(lead, b"liveness")
                if isinstance(res, Proposed):
                    pending = res
            self.tick_all()
            self.deliver_all()
        raise AssertionError(
            f"liveness: no commit on all nodes within {max_ticks} ticks after healing "
            f"(leader={self.leader()}, pending={pending}, "
            f"status={[n.status() for n in self.nodes.values()]})"
        )
