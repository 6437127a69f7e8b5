"""Random fault schedules for the simulated cluster, each fully determined by a seed.

`run_schedule(seed)` derives a cluster configuration and a sequence of steps from the
seed, runs them with safety checks after every step, then heals everything and
checks liveness. Replay one seed with
`RAFT_SEED=<seed> .venv/bin/pytest tests/unit/raft/test_random_schedules.py`
(add `RAFT_TRACE=1` to print the schedule).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from orderer.raft import NodeId
from tests.unit.raft.sim import Cluster, SimConfig


@dataclass(frozen=True)
class ScheduleResult:
    seed: int
    steps: int
    applied: int
    leaders: int
    snapshots_restored: int
    liveness_ticks: int


def schedule_config(rng: random.Random) -> SimConfig:
    election = rng.randint(3, 10)
    return SimConfig(
        n=rng.choice((3, 3, 5)),
        election_tick=election,
        heartbeat_tick=rng.randint(1, max(1, election // 3)),
        pre_vote=rng.random() < 0.6,
        check_quorum=rng.random() < 0.6,
        max_inflight=rng.choice((1, 2, 8, 256)),
        max_entries_per_msg=rng.choice((1, 2, 5, 64)),
        max_bytes_per_msg=rng.choice((64, 1 << 20)),
        drop_rate=rng.choice((0.0, 0.02, 0.1, 0.3)),
    )


# (weight, action) — delivery dominates, as it does on a real network.
_ACTIONS = (
    (40, "deliver"),
    (3, "duplicate"),
    (3, "drop"),
    (25, "tick"),
    (5, "tick_all"),
    (8, "propose"),
    (2, "partition"),
    (2, "heal"),
    (2, "crash"),
    (3, "restart"),
    (2, "compact"),
)
_NAMES = [a for _, a in _ACTIONS]
_CUM: list[int] = []
for _w, _ in _ACTIONS:
    _CUM.append((_CUM[-1] if _CUM else 0) + _w)


def run_schedule(seed: int, steps: int | None = None, *, trace: bool = False) -> ScheduleResult:
    rng = random.Random(seed)
    cfg = schedule_config(rng)
    if steps is None:
        steps = rng.randint(500, 2500)
    c = Cluster(cfg, rng.getrandbits(64))
    if trace:
        c.trace = [f"seed {seed}: {cfg}"]
    try:
        _run(c, rng, steps)
        ticks = c.heal_and_commit(max_ticks=30 * cfg.election_tick)
        c.check_final()
    except AssertionError as e:
        if c.trace is not None:
            print("\n".join(c.trace[-400:]))
        raise AssertionError(f"seed {seed} ({cfg}): {e}") from e
    chk = c.checker
    return ScheduleResult(
        seed, steps, chk.applied_count, len(chk.leaders), chk.restores, liveness_ticks=ticks
    )


def _run(c: Cluster, rng: random.Random, steps: int) -> None:
    ids = c.ids
    proposals = 0
    for _ in range(steps):
        action = rng.choices(_NAMES, cum_weights=_CUM)[0]
        if action == "deliver":
            c.deliver_random()
        elif action == "duplicate":
            if c.inflight:
                c.deliver_at(rng.randrange(len(c.inflight)), duplicate=True)
        elif action == "drop":
            c.drop_random()
        elif action == "tick":
            c.tick(rng.choice(ids))
        elif action == "tick_all":
            c.tick_all()
        elif action == "propose":
            # Usually at the leader; sometimes at a random node (dropped if follower).
            lead = c.leader()
            target = lead if lead is not None and rng.random() < 0.8 else rng.choice(ids)
            proposals += 1
            c.propose(target, b"p%d" % proposals + b"x" * rng.choice((0, 10, 100)))
        elif action == "partition":
            shuffled = ids[:]
            rng.shuffle(shuffled)
            cut = rng.randint(1, len(ids) - 1)
            c.partition(shuffled[:cut])
        elif action == "heal":
            c.heal()
        elif action == "crash":
            up = [i for i in ids if i in c.nodes]
            if len(up) > 1:
                c.crash(rng.choice(up))
        elif action == "restart":
            down = c.down()
            if down:
                c.restart(rng.choice(down), keep_app=rng.random() < 0.7)
        elif action == "compact":
            nid = NodeId(rng.choice(ids))
            c.compact(nid, keep=rng.choice((0, 0, 2, 10)))
