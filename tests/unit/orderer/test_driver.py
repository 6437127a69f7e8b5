"""Three drivers over a loopback transport, with real Raft logs and block stores."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from common import block as blk
from orderer.raft import NodeId
from protos.common import common_pb2
from tests.unit.orderer.support import CHANNEL, Cluster, signed_envelope, wait_until


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    yield c
    c.close()


def envelopes(cluster: Cluster, n: int, tag: str = "") -> list[bytes]:
    return [signed_envelope(CHANNEL, cluster.client, f"{tag}{i}".encode()) for i in range(n)]


def assert_same_chain(cluster: Cluster) -> list[bytes]:
    chains = {nid: cluster.chain(nid) for nid in cluster.nodes}
    first = next(iter(chains.values()))
    assert all(chain == first for chain in chains.values()), chains
    store = next(iter(cluster.nodes.values())).store
    blocks = list(store.blocks(0))
    for prev, block in itertools.pairwise(blocks):
        blk.verify_chain_link(prev, block)
    return first


def test_blocks_are_cut_replicated_and_signed_by_the_leader(cluster: Cluster) -> None:
    cluster.start_all()
    leader = cluster.leader()
    sent = envelopes(cluster, 25)
    for env in sent:
        assert cluster.submit(env, via=leader.id).status == common_pb2.SUCCESS
    # 25 envelopes, MaxMessageCount 10: two full blocks and one cut by the timeout
    cluster.wait_height(4)
    assert_same_chain(cluster)
    assert sorted(cluster.envelopes(1)) == sorted(sent)
    block = leader.store.block(1)
    assert block is not None
    assert len(block.data.data) == 10
    (signature,) = blk.block_signatures(block)
    assert signature.creator == cluster.signers[leader.id].serialize()
    identity = cluster.bundle.deserialize_identity(signature.creator)
    identity.verify(signature.signed_bytes, signature.signature)
    assert blk.last_config_index(block) == 0
    assert cluster.metrics.blocks_cut.labels(CHANNEL)._value.get() == 3


def test_followers_forward_to_the_leader(cluster: Cluster) -> None:
    cluster.start_all()
    leader = cluster.leader()
    follower = next(n for n in cluster.nodes.values() if n.id != leader.id)
    sent = envelopes(cluster, 3)
    for env in sent:
        assert cluster.submit(env, via=follower.id).status == common_pb2.SUCCESS
    cluster.wait_height(2)
    assert sorted(cluster.envelopes(follower.id)) == sorted(sent)


def test_duplicate_pending_txid_is_refused(cluster: Cluster) -> None:
    cluster.start_all()
    leader = cluster.leader()
    env = signed_envelope(CHANNEL, cluster.client)
    assert cluster.submit(env, via=leader.id).status == common_pb2.SUCCESS
    assert cluster.submit(env, via=leader.id).status == common_pb2.BAD_REQUEST


def test_no_leader_means_service_unavailable(tmp_path: Path) -> None:
    c = Cluster(tmp_path)
    try:
        node = c.start(1)  # alone: it can never win an election
        result = node.driver.submit(signed_envelope(CHANNEL, c.client), "x")
        assert result.status == common_pb2.SERVICE_UNAVAILABLE
    finally:
        c.close()


def test_a_new_leader_continues_after_the_leader_is_killed(cluster: Cluster) -> None:
    cluster.start_all()
    old = cluster.leader()
    first = envelopes(cluster, 10, "a")
    for env in first:
        assert cluster.submit(env, via=old.id).status == common_pb2.SUCCESS
    cluster.wait_height(2)
    old_term = old.driver.status().term
    cluster.kill(old.id)
    new = cluster.leader()
    assert new.id != old.id
    assert new.driver.status().term > old_term
    second = envelopes(cluster, 15, "b")
    for env in second:
        cluster.submit_until_accepted(env)
    cluster.wait_height(4)
    assert_same_chain(cluster)
    assert sorted(cluster.envelopes(new.id)) == sorted(first + second)
    # the killed node comes back from its disk and catches up by log
    cluster.start(old.id)
    cluster.wait_height(4)
    assert_same_chain(cluster)


def test_restart_from_disk_loses_nothing_committed(cluster: Cluster) -> None:
    cluster.start_all()
    cluster.leader()
    sent = envelopes(cluster, 20)
    for env in sent:
        cluster.submit_until_accepted(env)
    cluster.wait_height(3)
    before = cluster.chain(1)
    for nid in (1, 2, 3):
        cluster.kill(nid)
    cluster.start_all()
    cluster.leader()
    for nid in (1, 2, 3):
        assert cluster.chain(nid)[: len(before)] == before
    more = envelopes(cluster, 10, "after")
    for env in more:
        cluster.submit_until_accepted(env)
    cluster.wait_height(len(before) + 1)
    assert_same_chain(cluster)
    assert sorted(cluster.envelopes(1)) == sorted(sent + more)


def test_lagging_follower_catches_up_by_snapshot_and_block_pull(tmp_path: Path) -> None:
    c = Cluster(tmp_path, snapshot_interval_blocks=2, max_message_count=1)
    try:
        c.start_all()
        leader = c.leader()
        lagging = next(nid for nid in c.nodes if nid != leader.id)
        c.kill(lagging)
        sent = envelopes(c, 12)
        for env in sent:
            c.submit_until_accepted(env)
        c.wait_height(13)
        wait_until(lambda: leader.storage.first_index() > 2, what="leader compacts its log")
        node = c.start(lagging)
        c.wait_height(13)
        assert node.puller.pulled > 0  # caught up by snapshot + pull, not by log
        assert_same_chain(c)
        assert sorted(c.envelopes(lagging)) == sorted(sent)
        # and it keeps following afterwards
        c.submit_until_accepted(signed_envelope(CHANNEL, c.client, b"late"))
        c.wait_height(14)
        assert_same_chain(c)
    finally:
        c.close()


def test_status_reports_leader_and_term(cluster: Cluster) -> None:
    cluster.start_all()
    leader = cluster.leader()
    statuses = [n.driver.status() for n in cluster.nodes.values()]
    assert {s.leader for s in statuses} == {leader.id}
    assert len({s.term for s in statuses}) == 1
    assert leader.driver.status().node_id == NodeId(leader.id)
