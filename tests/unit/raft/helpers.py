"""Small builders for the focused Raft tests."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from orderer.raft import (
    Entry,
    HardState,
    Index,
    MemoryStorage,
    Message,
    MessageType,
    NodeId,
    RaftConfig,
    RaftNode,
    Ready,
    Term,
)
from tests.unit.raft.sim import Cluster, SimConfig

N1, N2, N3, N4, N5 = (NodeId(i) for i in range(1, 6))


def config(nid: int, n: int = 3, **kw: Any) -> RaftConfig:
    return RaftConfig(id=NodeId(nid), peers=tuple(NodeId(i) for i in range(1, n + 1)), **kw)


def storage_with_terms(terms: list[int], term: int | None = None) -> MemoryStorage:
    """A storage holding entries 1..len(terms) with the given terms."""
    st = MemoryStorage()
    st.append([Entry(Term(t), Index(i)) for i, t in enumerate(terms, start=1)])
    st.set_hard_state(HardState(Term(term if term is not None else max(terms, default=0))))
    return st


def new_node(
    nid: int, n: int = 3, storage: MemoryStorage | None = None, seed: int = 0, **kw: Any
) -> tuple[RaftNode, MemoryStorage]:
    st = storage if storage is not None else MemoryStorage()
    return RaftNode(config(nid, n, **kw), st, random.Random(seed)), st


def persist(node: RaftNode, st: MemoryStorage) -> Ready:
    """Carry out one Ready the way the driver does (without a network)."""
    rd = node.ready()
    if rd.snapshot is not None:
        st.apply_snapshot(rd.snapshot)
    st.append(rd.entries)
    if rd.hard_state is not None:
        st.set_hard_state(rd.hard_state)
    node.advance(rd)
    return rd


def msg(t: MessageType, frm: int, to: int, term: int, **kw: Any) -> Message:
    return Message(t, NodeId(to), NodeId(frm), Term(term), **kw)


def cluster(n: int = 3, seed: int = 0, **kw: Any) -> Cluster:
    return Cluster(SimConfig(n=n, **kw), seed)


def elect(c: Cluster, nid: NodeId) -> None:
    """Make `nid` campaign now and deliver everything; it must win within a few
    attempts (a rejection by a node that already voted in that term costs one)."""
    for _ in range(3):
        c.nodes[nid].campaign()
        c.process(nid)
        c.deliver_all()
        if c.nodes[nid].is_leader:
            return
    raise AssertionError(f"{nid} did not win: {c.nodes[nid].status()}")


def deliver_until(c: Cluster, done: Callable[[], bool], limit: int = 10_000) -> None:
    """Deliver in-flight messages one at a time, oldest first, until `done()`."""
    for _ in range(limit):
        if done():
            return
        assert c.inflight, "ran out of messages"
        c.deliver_next()
    raise AssertionError("condition never reached")


def ticks(c: Cluster, n: int, nodes: list[NodeId] | None = None) -> None:
    """`n` rounds of: tick the nodes, deliver everything."""
    for _ in range(n):
        for nid in nodes if nodes is not None else c.ids:
            c.tick(nid)
        c.deliver_all()
