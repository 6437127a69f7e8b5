"""Thousands of seeded random fault schedules, checked for Raft's safety properties
after every step and for liveness once the faults stop.

Replay a failing seed (its message names it) with
    RAFT_SEED=<seed> .venv/bin/pytest tests/unit/raft/test_random_schedules.py -q
and add RAFT_TRACE=1 to print the last steps of the schedule. Soak with more seeds:
    RAFT_SCHEDULES=50000 RAFT_FIRST_SEED=100000 \
        .venv/bin/pytest tests/unit/raft/test_random_schedules.py
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.raft.schedules import run_schedule

SCHEDULES = int(os.environ.get("RAFT_SCHEDULES", "2000"))
FIRST_SEED = int(os.environ.get("RAFT_FIRST_SEED", "0"))
CHUNKS = 20
REPLAY = "RAFT_SEED={seed} .venv/bin/pytest tests/unit/raft/test_random_schedules.py -q"


def _seeds(chunk: int) -> range:
    per = -(-SCHEDULES // CHUNKS)
    lo = FIRST_SEED + chunk * per
    return range(lo, min(lo + per, FIRST_SEED + SCHEDULES))


@pytest.mark.skipif("RAFT_SEED" in os.environ, reason="replaying a single seed")
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_random_schedules_are_safe_and_live(chunk: int) -> None:
    failures: list[str] = []
    for seed in _seeds(chunk):
        try:
            run_schedule(seed)
        except AssertionError as e:
            failures.append(f"{e}\n  replay: {REPLAY.format(seed=seed)}")
    if failures:
        pytest.fail(f"{len(failures)} failing schedule(s):\n" + "\n".join(failures))


@pytest.mark.skipif("RAFT_SEED" not in os.environ, reason="set RAFT_SEED to replay one seed")
def test_replay_seed() -> None:
    seed = int(os.environ["RAFT_SEED"])
    r = run_schedule(seed, trace=bool(os.environ.get("RAFT_TRACE")))
    print(r)


def test_schedules_exercise_the_interesting_paths() -> None:
    """Guard against a harness that silently stops testing anything: over a fixed set
    of seeds, schedules must elect several leaders, restore snapshots and commit."""
    results = [run_schedule(seed) for seed in range(40)]
    assert sum(r.applied for r in results) > 1000
    assert sum(r.leaders for r in results) > 80
    assert sum(r.snapshots_restored for r in results) > 10
    assert max(r.leaders for r in results) >= 5


@settings(max_examples=60, derandomize=True, database=None, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**63), steps=st.integers(min_value=20, max_value=600)
)
def test_hypothesis_schedules_are_safe_and_live(seed: int, steps: int) -> None:
    """The same property, with schedules (seed, length) drawn by hypothesis, which
    shrinks a failure towards the shortest schedule."""
    run_schedule(seed, steps)
