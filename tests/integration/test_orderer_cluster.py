"""Three orderer processes with mutual TLS: SIGKILL the leader under load, restart it,
and a follower caught up by snapshot + block pull. After every fault all nodes hold
the same chain and every envelope answered SUCCESS is in it exactly once."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from common import block as blk
from tests.integration.orderer_net import Load, OrdererNetwork

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def net(tmp_path: Path) -> Iterator[OrdererNetwork]:
    network = OrdererNetwork.create(tmp_path, snapshot_interval=5, max_count=20)
    try:
        yield network
    finally:
        network.stop_all()


def check_consistent(net: OrdererNetwork, acked: list[bytes]) -> None:
    height = max(len(net.deliver_all(i)) for i in range(3))
    for i in range(3):
        net.wait_height(i, height)
    net.stop_all()
    chains = [net.stored_chain(i) for i in range(3)]
    hashes = [[blk.header_hash(b.header) for b in chain] for chain in chains]
    assert hashes[0] == hashes[1] == hashes[2]
    for previous, block in zip(chains[0], chains[0][1:], strict=False):
        blk.verify_chain_link(previous, block)
    counts = Counter(bytes(e) for b in chains[0][1:] for e in b.data.data)
    missing = [e for e in acked if counts[e] == 0]
    assert not missing, f"{len(missing)} acknowledged envelopes are missing"
    assert all(counts[e] == 1 for e in acked)


def test_leader_sigkilled_under_load_then_restarted(net: OrdererNetwork) -> None:
    net.start_all()
    leader = net.leader()
    with Load(net, clients=3) as load:
        time.sleep(2)
        net.kill(leader)
        time.sleep(3)
        net.start(leader)
        time.sleep(2)
    assert len(load.acked) > 50
    net.leader()
    check_consistent(net, load.acked)


def test_follower_killed_catches_up_by_snapshot(net: OrdererNetwork) -> None:
    net.start_all()
    leader = net.leader()
    follower = (leader + 1) % 3
    net.kill(follower)
    with Load(net, clients=3) as load:
        time.sleep(4)  # many blocks: snapshots every 5 blocks compact the leader's log
    net.start(follower)
    check_consistent(net, load.acked)
    log = net.nodes[follower].log_path.read_text()
    assert "pulling blocks" in log  # it caught up by snapshot + block pull
