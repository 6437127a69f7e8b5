"""Scripted scenarios on the simulated cluster (safety is checked after every step
by the cluster's `SafetyChecker`; these tests assert the expected outcome)."""

from __future__ import annotations

import pytest

from orderer.raft import Index, Proposed, Role
from tests.unit.raft.helpers import N1, N2, N3, N4, N5, elect, ticks
from tests.unit.raft.sim import Cluster, SimConfig


@pytest.mark.parametrize(("pre_vote", "check_quorum"), [(True, True), (False, False)])
def test_partitioned_leader_is_replaced_and_its_uncommitted_entries_discarded(
    pre_vote: bool, check_quorum: bool
) -> None:
    c = Cluster(SimConfig(n=5, pre_vote=pre_vote, check_quorum=check_quorum), 20)
    elect(c, N1)
    c.propose(N1, b"committed")
    c.deliver_all()
    c.partition([N1, N2])  # the leader keeps only a minority
    lost = c.propose(N1, b"never committed")
    assert isinstance(lost, Proposed)
    c.deliver_all()
    ticks(c, 40, [N3, N4, N5])
    new = c.leader()
    assert new in (N3, N4, N5)
    c.propose(new, b"majority side")
    c.deliver_all()
    c.heal()
    ticks(c, 40)
    assert c.leader() not in (N1, N2)
    for nid in c.ids:
        assert c.nodes[nid].log.term(lost.index) != lost.term
        assert c.apps[nid] == c.apps[new]


def test_minority_crash_does_not_stop_commits_and_crashed_nodes_catch_up() -> None:
    c = Cluster(SimConfig(n=5), 21)
    elect(c, N2)
    c.crash(N4)
    c.crash(N5)
    for k in range(10):
        c.propose(N2, b"%d" % k)
    c.deliver_all()
    assert c.nodes[N2].log.committed == c.nodes[N2].log.last_index() == 11
    c.restart(N4)
    c.restart(N5, keep_app=False)
    ticks(c, 3)
    assert all(c.apps[n].index == 11 for n in c.ids)


def test_majority_crash_stops_commits_until_restart() -> None:
    c = Cluster(SimConfig(n=3, check_quorum=False), 22)
    elect(c, N1)
    c.crash(N2)
    c.crash(N3)
    res = c.propose(N1, b"waits")
    assert isinstance(res, Proposed)
    ticks(c, 5, [N1])
    assert c.nodes[N1].log.committed < res.index
    c.restart(N2)
    ticks(c, 3)
    assert c.apps[N1].index >= res.index
    assert c.apps[N2].index >= res.index


def test_whole_cluster_restart_recovers_and_continues() -> None:
    c = Cluster(SimConfig(n=3), 23)
    elect(c, N3)
    for k in range(5):
        c.propose(N3, b"%d" % k)
    c.deliver_all()
    before = {n: c.apps[n].index for n in c.ids}
    for n in c.ids:
        c.crash(n)
    for n in c.ids:
        c.restart(n, keep_app=n != N1)
    assert all(c.nodes[n].role is Role.FOLLOWER for n in c.ids)
    assert c.heal_and_commit(max_ticks=100) < 100
    assert all(c.apps[n].index > before[n] for n in c.ids)


def test_leader_isolated_with_check_quorum_then_heals_without_losing_commits() -> None:
    c = Cluster(SimConfig(n=3, election_tick=5), 24)
    elect(c, N1)
    c.propose(N1, b"a")
    c.deliver_all()
    c.partition([N1])
    ticks(c, 15)
    assert not c.nodes[N1].is_leader  # stepped down by check-quorum
    assert c.leader() in (N2, N3)
    c.heal()
    ticks(c, 10)
    assert c.checker.committed_terms[Index(2)] == 1
    assert len({c.apps[n].digest for n in c.ids}) == 1


def test_repeated_compaction_with_lagging_follower_under_drops() -> None:
    c = Cluster(SimConfig(n=3, election_tick=5, drop_rate=0.2), 25)
    elect(c, N1)
    for round_ in range(5):
        c.crash(N3)
        for k in range(8):
            lead = c.leader()
            if lead is not None:
                c.propose(lead, b"%d-%d" % (round_, k))
            ticks(c, 1)
        for n in (N1, N2):
            c.compact(n, keep=round_)
        c.restart(N3)
        ticks(c, 5)
    assert c.heal_and_commit(max_ticks=150) < 150
    assert c.checker.restores >= 1
