"""`scf bench run`: a Caliper-style load generator against a running network.

    scf bench --profile DIR/connection.yaml --workload blind-write --duration 60 --json

In order:

1. **Clients.** `clients` load processes (spawned), each with its own gateway
   connection as `User1` of one org, spread round-robin over the orgs that run a
   gateway peer (`core`, `bank`, `warehouse` on the default network; the suppliers,
   each on a different gateway peer, for voucher-flow). With `client="node"` each
   client is `bench/fabric-gateway-blind-write.mjs` (the official Fabric Gateway
   Node client, `client.bench.node_client`) instead; blind-write only.
2. **Set-up** (not measured): query writes the keys it will read; voucher-flow
   prepares a pool of accepted, split vouchers (`client.bench.voucher_pool.prepare_pool`:
   issue → accept → split).
3. **Load.** Every client starts at one agreed instant `t0` and sends under its share
   of the rate control (`client.bench.workloads`) until `t0 + warmup + duration`
   (or its share of `tx_count`), then waits for what is outstanding (up to 60 s).
   One `Sample` per transaction: sent (before signing) → commit status returned
   (`Commit.status()`). Python clients run the SDK's batching mode by default
   (`client.batching`: Endorse and Submit calls coalesced into batch calls, commit
   statuses from one filtered-block stream); `batching=False` is the standard path,
   one Endorse, Submit and CommitStatus call per transaction as Fabric clients make.
4. **Sampling** (`client.bench.sampler`). While the clients run, this process samples
   every node's and client's CPU and RSS from `/proc` (node PIDs from
   `DIR/nodes/*/pid`, DIR being the profile's folder), the machine's busy CPU and the
   load average.
5. **Report** (`client.bench.report`): the window is `[t0 + warmup, t0 + warmup +
   duration)`; with `tx_count`, from the first send to the last completion.

voucher-flow's measured mix, per load thread, on its own trees of leaves:
`TransferVoucher` with a partial amount (an atomic split + transfer to the next
supplier), then `RequestFinancing` of a piece of the rest at `BankMSP` (a split +
freeze), alternating down each tree to the policy's `max_depth`. Issue, accept and
split of the pool run during set-up (issuance is serial: every issuance updates the
issuer's exposure record), and are timed and reported separately.

Timestamps are `time.monotonic()` (CLOCK_MONOTONIC: one clock for every process on
the machine); the Node client reports wall-clock times, mapped onto it.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client.bench.errors import BenchError
from client.bench.node_client import DRAIN_TIMEOUT_S, run_node_clients
from client.bench.procs import LoadClients
from client.bench.report import BenchSummary, NodeFigures, Sample, node_figures, summarize
from client.bench.runner_client import (
    VOUCHER_CHAINCODE,
    VOUCHER_LEAF,
    VOUCHER_MAX_DEPTH,
    ClientOutcome,
    ClientSpec,
    load_client,
)
from client.bench.sampler import Sampler
from client.bench.voucher_pool import CHANNEL, SUPPLIERS, prepare_pool
from client.bench.workloads import (
    KV_CHAINCODE,
    WORKLOADS,
    FixedLoad,
    FixedRate,
    RateControl,
    client_orgs,
    per_client,
    split_evenly,
)
from client.profile import ConnectionProfile, load_profile

__all__ = ["BenchConfig", "BenchResult", "network_pids", "run_bench"]


@dataclass(frozen=True)
class BenchConfig:
    """One benchmark round (module docstring). `control` is the total over all
    clients; exactly one of `duration_s` / `tx_count` is set."""

    profile: Path
    workload: str
    control: RateControl
    clients: int = 4
    duration_s: float | None = 30.0
    tx_count: int | None = None
    warmup_s: float = 5.0
    value_size: int = 100
    client: str = "python"
    channel: str = CHANNEL
    tag: str = ""
    batching: bool = True

    def __post_init__(self) -> None:
        if self.workload not in WORKLOADS:
            raise BenchError(f"unknown workload {self.workload!r} (one of {', '.join(WORKLOADS)})")
        if (self.duration_s is None) == (self.tx_count is None):
            raise BenchError("give a duration or a tx count, not both")
        if self.clients < 1:
            raise BenchError("clients must be >= 1")
        if self.client not in ("python", "node"):
            raise BenchError("client is python or node")
        if self.client == "node" and self.workload != "blind-write":
            raise BenchError("the Node client drives blind-write only")
        if self.client == "node" and not isinstance(self.control, FixedLoad):
            raise BenchError("the Node client runs a fixed in-flight load only")
        try:
            per_client(self.control, self.clients)
        except ValueError as exc:
            raise BenchError(str(exc)) from None

    @property
    def run_tag(self) -> str:
        return self.tag or uuid.uuid4().hex[:8]

    def as_dict(self) -> dict[str, Any]:
        control: dict[str, Any] = (
            {"kind": "fixed-rate", "rate": self.control.rate}
            if isinstance(self.control, FixedRate)
            else {"kind": "fixed-load", "in_flight": self.control.in_flight}
        )
        return {
            "profile": str(self.profile),
            "workload": self.workload,
            "value_size": self.value_size,
            "rate_control": control,
            "clients": self.clients,
            "client": self.client,
            "batching": self.batching if self.client == "python" else None,
            "duration_s": self.duration_s,
            "tx_count": self.tx_count,
            "warmup_s": self.warmup_s,
        }


@dataclass
class BenchResult:
    config: BenchConfig
    summary: BenchSummary
    nodes: list[NodeFigures]
    machine: dict[str, Any]
    setup: dict[str, Any]
    client_assignments: list[str]
    first_failure: str = ""
    late_sends: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": "scf-bench/1",
            "config": self.config.as_dict(),
            "clients": self.client_assignments,
            **self.summary.as_dict(),
            "first_failure": self.first_failure or None,
            "late_sends": self.late_sends,
            "setup": self.setup,
            "machine": self.machine,
            "nodes": [n.as_dict() for n in self.nodes if n.role != "client"],
            "load_clients": [n.as_dict() for n in self.nodes if n.role == "client"],
            "timeline": self.summary.timeline,
        }


# ------------------------------------------------------------------ the network


def network_pids(profile: Path) -> dict[str, int]:
    """Node name → PID of every running node of the network whose profile this is
    (`<profile dir>/nodes/<name>/pid`); nodes whose process is gone are left out."""
    pids: dict[str, int] = {}
    for pid_file in sorted((profile.resolve().parent / "nodes").glob("*/pid")):
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            continue
        if Path(f"/proc/{pid}").exists():
            pids[pid_file.parent.name] = pid
    return pids


def _role(name: str) -> str:
    return "orderer" if name.startswith("orderer") else "peer"


def peer_client_orgs(profile: ConnectionProfile) -> list[str]:
    """Orgs that run a peer of their own and have a `User1`, in profile order."""
    return [
        name for name, org in profile.organizations.items() if org.peers and "User1" in org.users
    ]


def _voucher_setup(
    config: BenchConfig, tag: str, progress: Callable[[str], None]
) -> tuple[dict[str, list[tuple[str, int]]], dict[str, Any]]:
    controls = per_client(config.control, config.clients)
    threads = sum(c.in_flight for c in controls if isinstance(c, FixedLoad))
    horizon = (config.duration_s or 0) + config.warmup_s
    expected = config.tx_count or int(horizon * 250)  # generous: 250 tx/s
    leaves_needed = max(threads * 8, math.ceil(expected / (VOUCHER_MAX_DEPTH - 1) * 1.2))
    roots = max(len(SUPPLIERS), math.ceil(leaves_needed / 100))
    began = time.monotonic()
    leaves = prepare_pool(
        config.profile,
        roots=roots,
        children=100,
        leaf_amount=VOUCHER_LEAF,
        tag=tag,
        progress=progress,
    )
    took = time.monotonic() - began
    by_org = {
        org: [(leaf.voucher_id, leaf.depth) for leaf in leaves if leaf.holder == org]
        for org in SUPPLIERS
    }
    # issue + accept + split per root
    setup = {
        "roots": roots,
        "leaves": len(leaves),
        "transactions": roots * 3,
        "seconds": round(took, 1),
        "tx_s": round(roots * 3 / took, 1) if took else None,
        "note": "issue (serial: exposure record) → accept → split, before the load",
    }
    return by_org, setup


def run_bench(
    config: BenchConfig, progress: Callable[[str], None] = lambda _m: None
) -> BenchResult:
    """One round (module docstring). Raises `BenchError` when a client fails to start
    or the network's nodes cannot be found."""
    profile = load_profile(config.profile)
    pids = network_pids(config.profile)
    if not pids:
        progress(f"no node PIDs under {config.profile.resolve().parent / 'nodes'}; CPU not sampled")
    tag = config.run_tag
    setup: dict[str, Any] = {}
    if config.workload == "voucher-flow":
        orgs = client_orgs(list(SUPPLIERS), config.clients)
        peers_of = {org: profile.org(org).gateway_peers or profile.org(org).peers for org in orgs}
        chosen = [peers_of[org][i % len(peers_of[org])] for i, org in enumerate(orgs)]
        by_org, setup = _voucher_setup(config, tag, progress)
        chaincode = VOUCHER_CHAINCODE
    else:
        orgs = client_orgs(peer_client_orgs(profile), config.clients)
        chosen = [profile.org(org).peers[0] for org in orgs]
        by_org = {}
        chaincode = KV_CHAINCODE
    assignments = [f"{org}@{peer}" for org, peer in zip(orgs, chosen, strict=True)]
    controls = per_client(config.control, config.clients)
    counts: list[int | None] = (
        list(split_evenly(config.tx_count, config.clients))
        if config.tx_count is not None
        else [None] * config.clients
    )
    stop_after = None if config.duration_s is None else config.warmup_s + config.duration_s
    sampler = Sampler(pids)
    if config.client == "node":
        samples, late, first_failure, t0 = run_node_clients(
            config, profile, orgs, chosen, controls, counts, stop_after, tag, sampler, progress
        )
    else:
        samples, late, first_failure, t0 = _run_python_clients(
            config,
            orgs,
            chosen,
            controls,
            counts,
            stop_after,
            tag,
            by_org,
            chaincode,
            sampler,
            progress,
        )
    if config.duration_s is not None:
        w0, w1 = t0 + config.warmup_s, t0 + config.warmup_s + config.duration_s
    elif samples:
        w0 = min(s.sent for s in samples)
        w1 = max(s.done for s in samples) + 1e-6
    else:
        w0, w1 = t0, t0 + 1
    summary = summarize(samples, w0, w1, start=t0)
    roles = {name: _role(name) for name in pids}
    roles.update({name: "client" for name in sampler.pids if name.startswith("client")})
    roles["bench-parent"] = "client"
    nodes, machine = node_figures(sampler.ticks, w0, w1, summary.succeeded, roles)
    machine["cpus"] = os.cpu_count()
    return BenchResult(
        config=config,
        summary=summary,
        nodes=nodes,
        machine=machine,
        setup=setup,
        client_assignments=assignments,
        first_failure=first_failure,
        late_sends=late,
    )


def _to_samples(outcomes: list[ClientOutcome]) -> list[Sample]:
    return [Sample(*s) for o in outcomes for s in o.samples]


def _run_python_clients(
    config: BenchConfig,
    orgs: list[str],
    chosen: list[str],
    controls: list[RateControl],
    counts: list[int | None],
    stop_after: float | None,
    tag: str,
    by_org: dict[str, list[tuple[str, int]]],
    chaincode: str,
    sampler: Sampler,
    progress: Callable[[str], None],
) -> tuple[list[Sample], int, str, float]:
    profile = load_profile(config.profile)
    clients: LoadClients[ClientOutcome] = LoadClients()
    try:
        for i, (org, peer) in enumerate(zip(orgs, chosen, strict=True)):
            leaves: tuple[tuple[str, int], ...] = ()
            to_mspid = ""
            if config.workload == "voucher-flow":
                mine = [k for k, o in enumerate(orgs) if o == org]
                leaves = tuple(by_org[org][mine.index(i) :: len(mine)])
                nxt = SUPPLIERS[(SUPPLIERS.index(org) + 1) % len(SUPPLIERS)]
                to_mspid = profile.org(nxt).mspid
            spec = ClientSpec(
                index=i,
                profile=str(config.profile),
                org=org,
                peer=peer,
                workload=config.workload,
                run=tag,
                control=controls[i],
                value_size=config.value_size,
                stop_after_s=stop_after,
                tx_count=counts[i],
                chaincode=chaincode,
                channel=config.channel,
                to_mspid=to_mspid,
                leaves=leaves,
                batching=config.batching,
            )
            pid = clients.spawn(load_client, spec)
            assert pid is not None
            sampler.add(f"client{i}", pid)
        clients.wait_ready(timeout=180)
        what = (
            f"{config.duration_s:g} s after {config.warmup_s:g} s warm-up"
            if config.duration_s is not None
            else f"{config.tx_count} transactions"
        )
        progress(f"{config.clients} clients connected ({', '.join(chosen)}); running {what}")
        sampler.tick()
        sampler.start()
        t0 = clients.start(0.3)
        results = clients.wait_results(timeout=(stop_after or 3600) + DRAIN_TIMEOUT_S + 60)
        sampler.stop()
    finally:
        if sampler.is_alive():
            sampler.stop()
        clients.stop()
    first = next((r.first_failure for r in results if r.first_failure), "")
    return _to_samples(results), sum(r.late for r in results), first, t0
