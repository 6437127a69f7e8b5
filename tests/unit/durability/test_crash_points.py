"""Kill a node at each of its crash points in turn and check it recovers (issue 9,
item 2; the points are `common.crashpoints.POINTS`).

One default network (OS processes) serves every case. A case restarts the node
under test with `SCF_CRASH_AT=<point>:<count>`, drives `bench Put` transactions until
the process has killed itself there (its log says `crash point <point> hit`), starts
it again normally, submits more, and checks:

* the node is healthy again and has caught up: every orderer reports the same block
  height, every peer's chain holds every acknowledged transaction (CommitStatus
  VALID) exactly once, VALID, in the block its status named;
* all peers agree on every block's header hash and commit hash (hashes chain);
* every peer's state hash (`GET /ledger/state`, one snapshot) equals the others' at
  the same height — the crashed peer's state matches peers that never crashed.

Orderer points run two ways: on one restarted follower, and on all three orderers at
once (whichever leads, and then the others, die at that step of their own Ready
loop: the whole ordering service crashes mid-write). Peer points run on a
committing-only peer (warehouse, regulator): the endorsers must stay up for
transactions to flow.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from client.gateway import Gateway, Timeouts
from client.launcher import NodeSpec, process_alive, read_pid
from client.launcher_probe import probe_all
from common.crashpoints import CRASH_ENV, POINTS
from tests.faults.harness import CHANNEL, PEER_USERS, ChainTracker, FaultNet, Timer

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

ORDERER_POINTS = [p for p in POINTS if p.startswith(("raft.", "orderer."))]
PEER_POINTS = [p for p in POINTS if not p.startswith(("raft.", "orderer."))]
CASES = [
    *((p, "all-orderers" if i % 2 == 0 else "follower") for i, p in enumerate(ORDERER_POINTS)),
    *((p, "warehouse" if i % 2 == 0 else "regulator") for i, p in enumerate(PEER_POINTS)),
]


class Crashable:
    def __init__(self, net: FaultNet, tracker: ChainTracker) -> None:
        self.net = net
        self.tracker = tracker
        self.acknowledged: dict[str, int] = {}
        timeouts = Timeouts(evaluate=5, endorse=5, submit=8, commit_status=10)
        self.gateway = Gateway.from_profile(
            net.profile, org="bank", user="User1", timeouts=timeouts
        )
        self.contract = self.gateway.network(CHANNEL).contract("bench")

    def put(self) -> bool:
        key = f"crash-{uuid.uuid4().hex[:10]}"
        try:
            _, commit = self.contract.submit_async("Put", json.dumps({"key": key, "value": "v"}))
            status = commit.status()
        except Exception:
            return False
        if status.successful:
            self.acknowledged[status.transaction_id] = status.block_number
        return status.successful

    def start_armed(self, specs: list[NodeSpec], point: str, count: int) -> None:
        for spec in specs:
            self.net.kill(spec)
        os.environ[CRASH_ENV] = f"{point}:{count}"
        try:
            for spec in specs:
                self.net.start(spec)
        finally:
            del os.environ[CRASH_ENV]

    def settle(self) -> None:
        """Healthy, caught up, and the same everywhere (the module docstring)."""
        self.net.wait_ready(60)
        Timer.wait_for("a VALID commit", self.put, 30, 0.2)
        for _ in range(3):
            assert self.put()
        heights = probe_all(self.net.layout, self.net.orderers)
        target = max(h.heights.get(CHANNEL, 0) for h in heights)
        Timer.wait_for(
            "orderers at one height",
            lambda: (
                {s.heights.get(CHANNEL) for s in probe_all(self.net.layout, self.net.orderers)}
                == {target}
            ),
            30,
            0.2,
        )
        self.tracker.wait_level(target, 30)
        verdict = self.tracker.check(self.acknowledged)
        assert verdict.ok, (verdict.forks, verdict.lost, verdict.twice_valid)
        states = [_ledger_state(s) for s in self.net.peers]
        assert {s["height"] for s in states} == {target}, states
        assert len({s["state_hash"] for s in states}) == 1, states
        assert len({s["commit_hash"] for s in states}) == 1, states


def _ledger_state(spec: NodeSpec) -> dict[str, object]:
    url = f"{spec.operations_url}/ledger/state?channel={CHANNEL}"
    with urllib.request.urlopen(url, timeout=5) as response:
        body: dict[str, object] = json.loads(response.read())
        return body


@pytest.fixture(scope="module")
def crashable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crashable]:
    net = FaultNet(tmp_path_factory.mktemp("durability"))
    tracker: ChainTracker | None = None
    try:
        net.up()
        tracker = ChainTracker(net.profile, PEER_USERS)
        node = Crashable(net, tracker)
        node.settle()
        yield node
        node.gateway.close()
    finally:
        if tracker is not None:
            tracker.close()
        net.down()


@pytest.mark.parametrize(("point", "where"), CASES)
def test_crash_point_then_recover(crashable: Crashable, point: str, where: str) -> None:
    net = crashable.net
    if where == "all-orderers":
        targets = net.orderers
    elif where == "follower":
        leader = net.leader()
        targets = [next(o for o in net.orderers if o.id != leader)]
    else:
        targets = [net.spec(f"peer0.{where}.scf.example")]
    log_sizes = {t.id: _log_size(net, t) for t in targets}
    crashable.start_armed(targets, point, count=3)
    pids = {t.id: read_pid(net.layout, t) for t in targets}

    def crashed() -> list[str]:
        return [t.id for t in targets if pids[t.id] is None or not process_alive(pids[t.id] or 0)]

    deadline = time.monotonic() + 45
    # Drive blocks until every armed node is dead (for all orderers: until at most
    # a minority is left, which cannot order any more).
    need = len(targets) if len(targets) == 1 else len(targets) - 1
    while len(crashed()) < need and time.monotonic() < deadline:
        crashable.put()
        time.sleep(0.05)
    dead = crashed()
    assert len(dead) >= need, f"{point}: {dead} crashed of {[t.id for t in targets]}"
    for target in targets:
        if target.id in dead:
            log = _log_tail(net, target, log_sizes[target.id])
            assert f"crash point {point} hit" in log, f"{target.id} died, not at {point}:\n{log}"
    for target in targets:  # the survivors too: they ran armed
        net.kill(target)
        net.start(target)
    crashable.settle()


def _log_size(net: FaultNet, spec: NodeSpec) -> int:
    path = net.layout.log_path(spec)
    return path.stat().st_size if path.exists() else 0


def _log_tail(net: FaultNet, spec: NodeSpec, offset: int) -> str:
    path: Path = net.layout.log_path(spec)
    with path.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")
