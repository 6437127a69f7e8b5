"""Fault injection under load on the default network (issue 9, item 1).

The default consortium runs as OS processes on free ports, every orderer's Raft
cluster traffic through a TCP proxy the test owns (`proxy.py`). Client threads run
the voucher flow (`harness.VoucherLoad`) all along. Faults, each at a random instant
drawn from a seeded `random.Random` (the seed is printed; `SCF_FAULT_SEED=<n>`
replays a run's sequence of faults):

* `kill_leader`     SIGKILL the Raft leader, restart it after a short while;
* `kill_follower`   SIGKILL a follower orderer, restart it;
* `kill_endorser`   SIGKILL an endorsing peer (core or bank), restart it;
* `kill_regulator`  SIGKILL the regulator's peer, restart it;
* `sigstop`         SIGSTOP a node (orderer or peer) for longer than the election
                    timeout (1 s), then SIGCONT;
* `partition`       cut one orderer off from the other two (the proxy closes its
                    cluster connections both ways), then heal;
* `restart_all`     SIGKILL every node at once, start them all again.

An orderer-side fault and a peer-side fault may overlap in one round (never two
orderer faults: with 3 orderers one is all Raft tolerates while staying available).
After each round: the time from the fault's end to the first VALID commit of a fresh
transaction must be <= 10 s; every peer reaches the height every acknowledged
transaction needs; all peers agree on every block's header hash and commit hash
(and hashes chain); every tx whose CommitStatus said VALID is VALID on every peer in
that block, exactly once; conservation holds over the voucher roots touched since the
last check. At the end: the same, `client.verify.verify_channel` over the whole chain
(signatures, data hashes, links, peers compared) and conservation over every root.

Profiles: `short` (default; `make test`): 10 faults of each kind. `long`
(`SCF_FAULT_PROFILE=long`, `make soak`): 30 minutes (`SCF_FAULT_MINUTES`) of rounds
at random intervals. Each run prints its seed and a one-line verdict.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from client.profile import load_profile
from client.verify import verify_channel
from tests.faults import conftest as reporting
from tests.faults.harness import (
    CHANNEL,
    ENDORSERS,
    PEER_USERS,
    REGULATOR_PEER,
    ChainTracker,
    FaultNet,
    Timer,
    VoucherLoad,
    check_conservation,
    probe_recovery,
)

PROFILE = os.environ.get("SCF_FAULT_PROFILE", "short")
LONG = PROFILE == "long"
MINUTES = float(os.environ.get("SCF_FAULT_MINUTES", "30"))

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(int(MINUTES * 60 + 900) if LONG else 600),
]

ORDERER_KINDS = ("kill_leader", "kill_follower", "partition")
PEER_KINDS = ("kill_endorser", "kill_regulator")
KINDS = (*ORDERER_KINDS, *PEER_KINDS, "sigstop", "restart_all")
PER_KIND_SHORT = int(os.environ.get("SCF_FAULT_PER_KIND", "10"))
RECOVERY_LIMIT_S = 10.0
LOAD_THREADS = 2 if not LONG else 3
ELECTION_TIMEOUT_S = 1.0  # default network: tick 100 ms x election 10 ticks


@dataclass(frozen=True)
class Fault:
    kind: str
    side: str  # "orderer", "peer" or "all"


@dataclass
class Figures:
    injected: Counter[str] = field(default_factory=Counter)
    recoveries: list[tuple[float, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    rounds: int = 0
    probe_stats: Counter[str] = field(default_factory=Counter)

    @property
    def worst(self) -> tuple[float, str]:
        return max(self.recoveries, default=(0.0, "-"))


def short_schedule(rng: random.Random) -> list[list[Fault]]:
    """Rounds holding 10 faults of each kind: an orderer-side fault paired with a
    peer-side one where possible; `restart_all` alone."""
    orderer = [Fault(k, "orderer") for k in ORDERER_KINDS for _ in range(PER_KIND_SHORT)]
    peer = [Fault(k, "peer") for k in PEER_KINDS for _ in range(PER_KIND_SHORT)]
    for i in range(PER_KIND_SHORT):
        (orderer if i % 2 == 0 else peer).append(
            Fault("sigstop", "orderer" if i % 2 == 0 else "peer")
        )
    rng.shuffle(orderer)
    rng.shuffle(peer)
    rounds: list[list[Fault]] = []
    for i, fault in enumerate(orderer):
        rounds.append([fault, peer[i]] if i < len(peer) else [fault])
    for i in range(len(orderer), len(peer)):
        rounds.append([peer[i]])
    for _ in range(PER_KIND_SHORT):
        rounds.insert(rng.randrange(len(rounds) + 1), [Fault("restart_all", "all")])
    return rounds


def random_round(rng: random.Random) -> list[Fault]:
    if rng.random() < 0.1:
        return [Fault("restart_all", "all")]
    out = []
    if rng.random() < 0.85:
        kind = rng.choice([*ORDERER_KINDS, "sigstop"])
        out.append(Fault(kind, "orderer"))
    if rng.random() < 0.7 or not out:
        kind = rng.choice([*PEER_KINDS, "sigstop"])
        out.append(Fault(kind, "peer"))
    return out


class Injector:
    """Starts a fault now; `inject` returns (seconds it lasts, how to end it)."""

    def __init__(self, net: FaultNet, rng: random.Random, say: Callable[[str], None]) -> None:
        self.net = net
        self.rng = rng
        self.say = say

    def inject(self, fault: Fault) -> tuple[float, Callable[[], None]]:
        net, rng = self.net, self.rng
        if fault.kind == "restart_all":
            for spec in rng.sample(list(net.specs), len(net.specs)):
                net.kill(spec)  # in a random order; started again orderers first
            return rng.uniform(0.1, 0.5), net.start_all
        if fault.kind in ("kill_leader", "kill_follower", "partition") or (
            fault.kind == "sigstop" and fault.side == "orderer"
        ):
            leader = net.leader()
            if fault.kind == "kill_leader":
                assert leader is not None, "no Raft leader to kill"
                target = net.spec(leader)
            elif fault.kind == "kill_follower":
                target = rng.choice([o for o in net.orderers if o.id != leader])
            else:
                target = rng.choice(net.orderers)
        elif fault.kind == "kill_endorser":
            target = net.spec(rng.choice(ENDORSERS))
        elif fault.kind == "kill_regulator":
            target = net.spec(REGULATOR_PEER)
        else:  # sigstop of a peer
            target = net.spec(rng.choice(sorted(PEER_USERS)))
        if fault.kind.startswith("kill_"):
            net.kill(target)
            self.say(f"  {fault.kind}: {target.id}")
            return rng.uniform(0.1, 0.8), lambda: net.start(target)
        if fault.kind == "sigstop":
            net.stop(target)
            self.say(f"  sigstop: {target.id}")
            return rng.uniform(1.2, 1.8) * ELECTION_TIMEOUT_S, lambda: net.cont(target)
        net.isolate(target)
        self.say(f"  partition: {target.id} cut off")
        return rng.uniform(1.3, 2.2) * ELECTION_TIMEOUT_S, net.heal


def run_round(
    faults: list[Fault],
    injector: Injector,
    net: FaultNet,
    load: VoucherLoad,
    tracker: ChainTracker,
    figures: Figures,
) -> None:
    """Inject `faults` together, end each after its duration, then check."""
    began = time.monotonic()
    ends: list[tuple[float, int, Callable[[], None]]] = []
    for i, fault in enumerate(faults):
        lasts, end = injector.inject(fault)
        figures.injected[fault.kind] += 1
        ends.append((time.monotonic() + lasts, i, end))
    for at, _, end in sorted(ends):
        time.sleep(max(0.0, at - time.monotonic()))
        end()
    fault_end = time.monotonic()
    names = "+".join(f.kind for f in faults)
    took, txid = probe_recovery(net.profile, fault_end, 30.0, figures.probe_stats)
    if took is None:
        figures.failures.append(f"round {figures.rounds} ({names}): {txid}")
        return
    figures.recoveries.append((took, names))
    t_probe = time.monotonic()
    if took > RECOVERY_LIMIT_S:
        figures.failures.append(f"round {figures.rounds} ({names}): first VALID after {took:.1f} s")
    net.wait_ready(30)
    t_ready = time.monotonic()
    acknowledged = load.acknowledged()
    target = max([*tracker.heights().values(), *(n + 1 for n in acknowledged.values())])
    tracker.wait_level(target, 30)
    verdict = tracker.check(acknowledged)
    t_level = time.monotonic()
    for what, items in (
        ("fork", verdict.forks),
        ("lost", verdict.lost),
        ("twice", verdict.twice_valid),
    ):
        figures.failures.extend(f"round {figures.rounds} {what}: {x}" for x in items[:5])
    problems = check_conservation(net.profile, sorted(load.take_dirty_roots()))
    figures.failures.extend(f"round {figures.rounds} conservation: {p}" for p in problems[:5])
    injector.say(
        f"round {figures.rounds} {names}: recovered in {took:.2f} s, "
        f"heights {sorted(set(verdict.heights.values()))}, "
        f"acknowledged {len(acknowledged)}, {time.monotonic() - began:.1f} s "
        f"(to probe {t_probe - began:.1f}, ready {t_ready - t_probe:.1f}, "
        f"level {t_level - t_ready:.1f}, conservation {time.monotonic() - t_level:.1f})"
    )


def test_faults_under_voucher_load(tmp_path: Path) -> None:
    seed = int(os.environ.get("SCF_FAULT_SEED") or random.SystemRandom().randrange(1 << 31))
    rng = random.Random(seed)
    started = time.monotonic()
    log_lines: list[str] = []

    def say(line: str) -> None:
        log_lines.append(line)
        print(line, flush=True)

    say(f"fault suite: profile={PROFILE} seed={seed} (replay: SCF_FAULT_SEED={seed})")
    net = FaultNet(tmp_path)
    figures = Figures()
    load: VoucherLoad | None = None
    tracker: ChainTracker | None = None
    verdict_line = f"VERDICT FAIL profile={PROFILE} seed={seed} (did not finish)"
    try:
        net.up()
        Timer.wait_for("cluster links through the proxy", lambda: net.proxy.link_count >= 2, 10)
        say(f"network up in {time.monotonic() - started:.1f} s")
        tracker = ChainTracker(net.profile, PEER_USERS)
        load = VoucherLoad(net.profile, threads=LOAD_THREADS, seed=seed)
        load.start()
        injector = Injector(net, rng, say)
        if LONG:
            deadline = started + MINUTES * 60
            while time.monotonic() < deadline and not figures.failures:
                time.sleep(rng.uniform(0.5, 6.0))  # a random instant under load
                figures.rounds += 1
                run_round(random_round(rng), injector, net, load, tracker, figures)
        else:
            for faults in short_schedule(rng):
                if figures.failures:
                    break
                time.sleep(rng.uniform(0.0, 0.3))
                figures.rounds += 1
                run_round(faults, injector, net, load, tracker, figures)
        load.stop()
        # Final: everything acknowledged on every peer, the whole chain verified.
        net.wait_ready(30)
        acknowledged = load.acknowledged()
        target = max([*tracker.heights().values(), *(n + 1 for n in acknowledged.values())])
        tracker.wait_level(target, 30)
        verdict = tracker.check(acknowledged)
        figures.failures.extend(f"final fork: {x}" for x in verdict.forks[:5])
        figures.failures.extend(f"final lost: {x}" for x in verdict.lost[:5])
        figures.failures.extend(f"final twice: {x}" for x in verdict.twice_valid[:5])
        for _ in range(3):  # a peer may refuse one connection while busy: ask again
            report = verify_channel(load_profile(net.profile), CHANNEL, settle_s=15.0)
            if report.ok:
                break
            time.sleep(1)
        if not report.ok:
            figures.failures.append(
                "verify_channel: "
                + "; ".join(f"{c.peer} {c.status} h={c.height} {c.error}" for c in report.chains)
                + f" divergence={report.divergence}"
            )
        problems = check_conservation(net.profile, sorted(load.figures.roots))
        figures.failures.extend(f"final conservation: {p}" for p in problems[:10])
        lost = len(verdict.lost)
        forks = len(verdict.forks) + (0 if report.divergence is None else 1)
        worst, worst_round = figures.worst
        load_figs = load.figures
        outcome_summary = Counter(
            code.split(":", 1)[1] for code, n in load_figs.outcomes.items() for _ in range(n)
        )
        say(f"faults injected by kind: {dict(sorted(figures.injected.items()))}")
        say(f"recovery probes: {dict(figures.probe_stats)}")
        say(
            f"load: {load_figs.submitted} submitted, {len(acknowledged)} acknowledged VALID, "
            f"{len(load_figs.roots)} roots; outcomes {dict(outcome_summary.most_common(8))}"
        )
        say(
            f"chain: height {max(verdict.heights.values())} on every peer; "
            f"duplicate (invalid) copies of a txid: {verdict.duplicate_copies}"
        )
        if load_figs.errors:
            figures.failures.extend(load_figs.errors[:3])
        missing = [k for k in KINDS if figures.injected[k] < (1 if LONG else PER_KIND_SHORT)]
        if missing:
            figures.failures.append(f"kinds injected too few times: {missing}")
        if LONG and sum(figures.injected.values()) < 100:
            figures.failures.append(f"only {sum(figures.injected.values())} faults in the long run")
        verdict_line = (
            f"VERDICT {'PASS' if not figures.failures else 'FAIL'} profile={PROFILE} "
            f"seed={seed} faults={sum(figures.injected.values())} rounds={figures.rounds} "
            f"acknowledged={len(acknowledged)} lost={lost} forks={forks} "
            f"longest_unavailability={worst:.2f}s ({worst_round}) "
            f"elapsed={time.monotonic() - started:.0f}s"
        )
    except BaseException as exc:
        verdict_line = (
            f"VERDICT FAIL profile={PROFILE} seed={seed} faults={sum(figures.injected.values())} "
            f"error={type(exc).__name__}: {str(exc)[:300]}"
        )
        raise
    finally:
        say(verdict_line)
        reporting.VERDICTS.append(verdict_line)
        if load is not None:
            load.stop()
        if tracker is not None:
            tracker.close()
        net.down()
        if figures.failures or not verdict_line.startswith("VERDICT PASS"):
            kept = Path(tempfile.gettempdir()) / f"scf-faults-{seed}"
            shutil.copytree(net.layout.logs, kept / "logs", dirs_exist_ok=True)
            say(f"node logs kept in {kept / 'logs'}")
    assert not figures.failures, f"seed {seed}: " + "\n".join(figures.failures[:20])
