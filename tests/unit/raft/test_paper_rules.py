"""Focused tests, each named after the rule of the Raft paper (section numbers of
Ongaro & Ousterhout 2014) or of the thesis (pre-vote, check-quorum) it checks."""

from __future__ import annotations

import random

import pytest

from orderer.raft import (
    NO_NODE,
    Entry,
    EntryType,
    HardState,
    Index,
    MemoryStorage,
    MessageType,
    NodeId,
    ProposalDropped,
    Proposed,
    RaftError,
    RaftNode,
    Role,
    Term,
)
from tests.unit.raft.helpers import (
    N1,
    N2,
    N3,
    config,
    deliver_until,
    elect,
    msg,
    new_node,
    persist,
    storage_with_terms,
    ticks,
)
from tests.unit.raft.sim import Cluster, SimConfig

MT = MessageType


# -- §5.2 leader election -------------------------------------------------------


@pytest.mark.parametrize("seed", range(30))
def test_election_safety_one_leader_per_term(seed: int) -> None:
    """§5.2: two candidates campaign at once in the same term, messages are delivered
    in a random order; at most one wins (the checker enforces it after each step)."""
    c = Cluster(SimConfig(n=5, pre_vote=False, check_quorum=False), seed)
    rng = random.Random(seed)
    for nid in (N1, N2, N3):
        c.nodes[nid].campaign()
        c.process(nid)
    while c.inflight:
        c.deliver_random() if rng.random() < 0.9 else c.drop_random()
    leaders = [n for n in c.nodes.values() if n.is_leader]
    assert len({n.term for n in leaders}) == len(leaders)


def test_vote_granted_at_most_once_per_term_5_2() -> None:
    node, st = new_node(1)
    node.step(msg(MT.VOTE, 2, 1, 1, index=0, log_term=0))
    node.step(msg(MT.VOTE, 3, 1, 1, index=0, log_term=0))
    node.step(msg(MT.VOTE, 2, 1, 1, index=0, log_term=0))  # a retransmission
    rd = persist(node, st)
    assert [(m.to, m.reject) for m in rd.messages] == [(2, False), (3, True), (2, False)]
    assert rd.hard_state == HardState(Term(1), N2, Index(0))


def test_vote_is_persisted_with_its_response_5_2() -> None:
    """Figure 2 "persistent state": the vote must be durable before the reply leaves,
    so it travels in the same Ready as the VOTE_RESP."""
    node, _st = new_node(1)
    node.step(msg(MT.VOTE, 3, 1, 4, index=0, log_term=0))
    rd = node.ready()
    assert rd.hard_state == HardState(Term(4), N3, Index(0))
    assert rd.must_sync
    assert [m.type for m in rd.messages] == [MT.VOTE_RESP]


def test_vote_granted_only_if_candidate_log_up_to_date_5_4_1() -> None:
    # Our log ends with (term 2, index 2).
    for last_term, last_index, granted in [
        (1, 5, False),  # older last term loses even with a longer log
        (2, 1, False),  # same last term, shorter log
        (2, 2, True),
        (3, 1, True),  # newer last term wins even with a shorter log
    ]:
        node, st = new_node(1, storage=storage_with_terms([1, 2]))
        node.step(msg(MT.VOTE, 2, 1, 3, index=last_index, log_term=last_term))
        (resp,) = persist(node, st).messages
        assert resp.type is MT.VOTE_RESP
        assert resp.reject is not granted, (last_term, last_index)


def test_randomized_election_timeout_in_range_5_2() -> None:
    """§5.2: timeouts are drawn from [election_tick, 2*election_tick)."""
    seen = set()
    for seed in range(200):
        node, _ = new_node(1, seed=seed, election_tick=10, pre_vote=False)
        elapsed = 0
        while node.role is Role.FOLLOWER:
            node.tick()
            elapsed += 1
        seen.add(elapsed)
    assert min(seen) >= 10
    assert max(seen) <= 19
    assert len(seen) >= 8  # actually randomised


def test_candidate_steps_down_on_append_from_leader_of_same_term_5_2() -> None:
    node, _st = new_node(1, pre_vote=False)
    node.campaign()
    assert node.role is Role.CANDIDATE
    assert node.term == 1
    node.step(msg(MT.APP, 2, 1, 1, index=0, log_term=0))
    assert node.status().role is Role.FOLLOWER
    assert node.leader_id == N2


# -- §5.3 log replication -------------------------------------------------------


def test_follower_rejects_append_on_log_mismatch_5_3() -> None:
    node, st = new_node(1, storage=storage_with_terms([1, 1]))
    node.step(msg(MT.APP, 2, 1, 2, index=3, log_term=2, entries=()))  # we lack index 3
    node.step(msg(MT.APP, 2, 1, 2, index=2, log_term=2, entries=()))  # term differs at 2
    r1, r2 = persist(node, st).messages
    assert r1.reject
    assert r1.index == 3
    assert r1.reject_hint == 2
    assert r1.log_term == 1
    assert r2.reject
    assert r2.index == 2
    assert r2.reject_hint == 2
    assert r2.log_term == 1
    assert node.log.last_index() == 2


def test_follower_truncates_conflicting_suffix_5_3() -> None:
    node, st = new_node(1, storage=storage_with_terms([1, 1, 1, 1]))
    new = (Entry(Term(3), Index(3), b"x"),)
    node.step(msg(MT.APP, 2, 1, 3, index=2, log_term=1, entries=new, commit=3))
    rd = persist(node, st)
    assert rd.entries == new
    assert [e.term for e in node.log.all_entries()] == [1, 1, 3]
    assert [e.term for e in st.entries(Index(1), Index(4), 1 << 30)] == [1, 1, 3]
    assert (rd.messages[0].reject, rd.messages[0].index) == (False, 3)
    assert [e.index for e in rd.committed_entries] == [1, 2, 3]


def test_leader_fast_backoff_with_reject_hints_5_3() -> None:
    """§5.3 optimisation: a follower with a long divergent suffix is repaired in a few
    round trips (one per conflicting term), not one per entry."""
    c = Cluster(SimConfig(n=3, pre_vote=False, check_quorum=False), 1)
    elect(c, N1)
    c.partition([N1])
    for k in range(60):  # node 1 accumulates 60 entries only it holds
        c.propose(N1, b"old%d" % k)
    c.deliver_all()
    elect(c, N2)  # term 2: 1's suffix cannot be committed
    for k in range(4):
        c.propose(N2, b"new%d" % k)
    c.deliver_all()
    c.crash(N2)  # re-elected at term 3, it starts probing at its last index + 1
    c.restart(N2)
    elect(c, N2)
    c.heal()
    c.inflight.clear()
    rejects = 0
    c.tick_all()
    for _ in range(100):
        if not c.inflight:
            break
        m = c.inflight[0]
        rejects += m.type is MT.APP_RESP and m.reject and m.to == N2
        c.deliver_next()
    assert c.nodes[N1].log.term(Index(2)) == 2
    assert c.nodes[N1].log.last_index() == 7
    assert rejects == 1  # one entry at a time would take 6


def test_leader_commits_once_a_majority_stores_the_entry_5_3() -> None:
    c = Cluster(SimConfig(n=5), 2)
    elect(c, N1)
    c.partition([N1, N2])
    res = c.propose(N1, b"a")
    assert isinstance(res, Proposed)
    c.deliver_all()
    assert c.nodes[N1].log.committed < res.index  # stored on 2 of 5
    c.partition([N1, N2, N3])
    ticks(c, 2, [N1])
    assert c.nodes[N1].log.committed >= res.index  # stored on 3 of 5


def test_leader_only_commits_current_term_entries_5_4_2() -> None:
    """§5.4.2 / Figure 8: a leader must not count replicas of an entry from an
    earlier term, or a later leader may legally overwrite it."""
    c = Cluster(SimConfig(n=3, pre_vote=False, check_quorum=False, max_entries_per_msg=1), 3)
    elect(c, N1)  # term 1, all hold the no-op at index 1
    c.partition([N1])
    old = c.propose(N1, b"term-1 entry")  # index 2, term 1, on node 1 only
    assert isinstance(old, Proposed)
    assert old.index == 2
    c.partition([N1])
    c.inflight.clear()
    c.nodes[N2].campaign()  # term 2, wins with node 3's vote
    c.process(N2)
    deliver_until(c, lambda: c.nodes[N2].is_leader)
    c.inflight.clear()  # its no-op (index 2, term 2) stays on node 2 only
    c.crash(N2)
    c.heal()
    c.crash(N1)  # node 1 steps down (it would never learn of term 2 otherwise)
    c.restart(N1)
    c.nodes[N1].campaign()  # term 2: node 3 already voted → rejected
    c.process(N1)
    c.deliver_all()
    c.nodes[N1].campaign()  # term 3: wins (its log (1,2) beats node 3's (1,1))
    c.process(N1)
    deliver_until(c, lambda: c.nodes[N1].is_leader)
    # Replicate index 2 (term 1) to node 3 and stop before index 3 (term 3) gets there.
    deliver_until(c, lambda: c.nodes[N1].status().peers[N3].match >= 2)
    assert c.nodes[N1].log.committed < 2, "committed an old-term entry by counting replicas"
    c.inflight.clear()
    # Node 2 may now win and overwrite index 2: that is only safe because it was not
    # committed. The checker verifies nothing committed is ever lost.
    c.crash(N1)
    c.restart(N2)
    elect(c, N2)
    c.restart(N1)
    ticks(c, 3)
    assert all(n.log.term(Index(2)) == 2 for n in c.nodes.values())


# -- pre-vote and check-quorum (thesis §9.6, §6.2) -----------------------------


def test_prevote_partitioned_node_does_not_disrupt_leader() -> None:
    c = Cluster(SimConfig(n=3, pre_vote=True, check_quorum=False), 4)
    elect(c, N1)
    term = c.nodes[N1].term
    c.partition([N3])
    ticks(c, 100, [N3])  # node 3 times out again and again
    assert c.nodes[N3].term == term, "pre-vote must not bump the term"
    c.heal()
    ticks(c, 5)
    assert c.nodes[N1].is_leader
    assert c.nodes[N1].term == term


def test_without_prevote_partitioned_node_disrupts_leader() -> None:
    """The contrast that shows why pre-vote is there."""
    c = Cluster(SimConfig(n=3, pre_vote=False, check_quorum=False), 4)
    elect(c, N1)
    term = c.nodes[N1].term
    c.partition([N3])
    ticks(c, 100, [N3])
    assert c.nodes[N3].term > term
    c.heal()
    ticks(c, 25)
    assert c.nodes[N1].term > term


def test_check_quorum_partitioned_leader_steps_down() -> None:
    c = Cluster(SimConfig(n=3, pre_vote=True, check_quorum=True, election_tick=10), 5)
    elect(c, N1)
    c.partition([N1])
    ticks(c, 20, [N1])  # at most two election timeouts
    assert c.nodes[N1].role is not Role.LEADER
    res = c.nodes[N1].propose(b"x")
    assert isinstance(res, ProposalDropped)


def test_check_quorum_follower_ignores_vote_while_leader_lease_holds() -> None:
    node, st = new_node(1, check_quorum=True, pre_vote=False)
    node.step(msg(MT.HEARTBEAT, 2, 1, 1))  # node 2 leads term 1; we just heard it
    persist(node, st)
    node.step(msg(MT.VOTE, 3, 1, 2, index=5, log_term=5))
    rd = persist(node, st)
    assert node.term == 1
    assert node.leader_id == N2
    assert rd.messages == ()
    for _ in range(10):  # lease expires after election_tick ticks of silence
        node.tick()
    node.step(msg(MT.VOTE, 3, 1, 2, index=5, log_term=5))
    assert node.term == 2


def test_stale_leader_learns_higher_term_from_append_response() -> None:
    node, st = new_node(1, check_quorum=True)
    node.step(msg(MT.APP, 3, 1, 7, index=0, log_term=0))
    persist(node, st)
    node.step(msg(MT.APP, 2, 1, 5, index=0, log_term=0))  # an old leader of term 5
    (resp,) = persist(node, st).messages
    assert (resp.type, resp.to, resp.term) == (MT.APP_RESP, N2, 7)


# -- flow control ---------------------------------------------------------------


def test_flow_control_limits_inflight_appends() -> None:
    c = Cluster(SimConfig(n=3, max_inflight=2, max_entries_per_msg=1), 6)
    elect(c, N1)
    c.partition([N3])  # keep the quorum, but node 3 never answers
    c.inflight.clear()
    for k in range(10):
        c.propose(N1, b"%d" % k)
    to3 = [m for m in c.inflight if m.to == N3 and m.type is MT.APP]
    assert len(to3) == 2
    c.heal()
    ticks(c, 5)
    assert c.apps[N3].index == c.apps[N1].index == c.nodes[N1].log.last_index()


def test_probe_state_sends_one_append_at_a_time() -> None:
    c = Cluster(SimConfig(n=3, max_entries_per_msg=1), 7)
    elect(c, N1)
    c.crash(N3)
    c.restart(N3)  # leader still thinks it is replicating; make it probe
    c.nodes[N1].report_unreachable(N3)
    c.inflight.clear()
    for k in range(5):
        c.propose(N1, b"%d" % k)
    assert len([m for m in c.inflight if m.to == N3 and m.type is MT.APP]) == 1


# -- snapshots and restarts -----------------------------------------------------


def test_lagging_follower_catches_up_by_snapshot() -> None:
    c = Cluster(SimConfig(n=3), 8)
    elect(c, N1)
    c.crash(N3)
    for k in range(30):
        c.propose(N1, b"block %d" % k)
        c.deliver_all()
    for nid in (N1, N2):
        c.compact(nid)
    assert c.storages[N1].first_index() > 20
    c.restart(N3)
    ticks(c, 3)
    assert c.checker.restores == 1
    assert c.apps[N3] == c.apps[N1]
    assert c.storages[N3].snapshot().index >= 30
    c.propose(N1, b"after")  # and it keeps replicating normally after the snapshot
    c.deliver_all()
    assert c.apps[N3] == c.apps[N1]


def test_lost_snapshot_is_resent() -> None:
    c = Cluster(SimConfig(n=3, election_tick=5), 9)
    elect(c, N1)
    c.crash(N3)
    for k in range(10):
        c.propose(N1, b"%d" % k)
    c.deliver_all()
    c.compact(N1)
    c.restart(N3)
    ticks(c, 1)
    snaps = 0
    for _ in range(30):  # drop every MsgSnap the first times, without a report
        for m in c.inflight:
            if m.type is MT.SNAP and snaps < 2:
                snaps += 1
        c.inflight = [m for m in c.inflight if not (m.type is MT.SNAP and snaps <= 2)]
        ticks(c, 1)
    assert c.apps[N3] == c.apps[N1]


def test_restart_keeps_persisted_term_vote_and_log() -> None:
    c = Cluster(SimConfig(n=3), 10)
    elect(c, N1)
    c.propose(N1, b"x")
    c.deliver_all()
    before = c.nodes[N2].status()
    c.crash(N2)
    c.restart(N2)
    after = c.nodes[N2].status()
    assert (after.term, after.vote, after.last_index) == (before.term, before.vote, 2)
    assert after.commit >= 2
    assert after.applied == before.applied


def test_restart_without_app_state_replays_committed_entries() -> None:
    c = Cluster(SimConfig(n=3), 11)
    elect(c, N1)
    for k in range(5):
        c.propose(N1, b"%d" % k)
    c.deliver_all()
    c.compact(N2, keep=3)
    want = c.apps[N2]
    c.crash(N2)
    c.restart(N2, keep_app=False)  # replays from the snapshot's index + 1
    assert c.apps[N2] == want


# -- the API contract -----------------------------------------------------------


def test_proposal_dropped_on_follower_names_the_leader() -> None:
    c = Cluster(SimConfig(n=3), 12)
    elect(c, N1)
    res = c.nodes[N2].propose(b"x")
    assert res == ProposalDropped("node 2 is follower", N1)
    fresh, _ = new_node(1)
    assert isinstance(fresh.propose(b"x"), ProposalDropped)
    assert fresh.propose(b"x").leader == NO_NODE  # type: ignore[union-attr]


def test_new_leader_appends_noop_entry() -> None:
    c = Cluster(SimConfig(n=3), 13)
    elect(c, N2)
    (e,) = c.nodes[N2].log.all_entries()
    assert e.type is EntryType.NOOP
    assert e.term == c.nodes[N2].term
    assert e.data == b""


def test_ready_must_be_advanced_before_the_next() -> None:
    node, st = new_node(1, n=1)
    node.campaign()
    assert node.has_ready()
    rd = node.ready()
    assert not node.has_ready()
    with pytest.raises(RaftError):
        node.ready()
    with pytest.raises(RaftError):
        node.advance(rd.__class__(None, (), None, (), (), None))
    st.append(rd.entries)
    node.advance(rd)
    assert not node.has_ready()


def test_single_node_group_commits_its_own_proposals() -> None:
    node, st = new_node(1, n=1)
    node.campaign()
    persist(node, st)
    assert node.is_leader
    res = node.propose(b"block")
    assert isinstance(res, Proposed)
    rd = persist(node, st)
    assert [e.data for e in rd.committed_entries] == [b"block"]
    assert rd.soft_state is None
    assert rd.entries[-1].index == res.index


def test_config_is_validated() -> None:
    with pytest.raises(RaftError):
        RaftNode(config(4), MemoryStorage(), random.Random(0))
    with pytest.raises(RaftError):
        RaftNode(config(1, election_tick=1), MemoryStorage(), random.Random(0))


def test_messages_from_outside_the_group_are_ignored() -> None:
    node, _st = new_node(1)
    node.step(msg(MT.VOTE, 9, 1, 5))
    node.step(msg(MT.APP, 2, 3, 5))
    assert node.term == 0
    assert not node.has_ready()
    assert NodeId(9) not in (node.leader_id,)
