"""`scf bench orderer`: signed envelopes through Broadcast into a 3-orderer cluster.

What it does, in order (everything it starts is stopped again, also on Ctrl-C):

1. writes a network folder (a temporary one, or `--keep-dir`): a `network.yaml`
   with one orderer org running three orderers on free local ports and one client
   org, its crypto material (`client.cryptogen`), the channel's genesis block with
   the requested BatchTimeout/MaxMessageCount (`client.genesis`) and each orderer's
   config file (`client.nodeconfig`; TLS on, `broadcast_ack: commit`);
2. starts the orderers as OS processes (`python -m orderer --config FILE`, through
   `client.launcher`) and waits until one leads the channel;
3. starts `clients` load-generator processes; each opens one TLS channel and one
   Broadcast stream to its target orderer (the leader, or the orderers in turn with
   `target="all"`), and signs and sends 1 KB envelopes — ENDORSER_TRANSACTION
   headers with a fresh nonce/txid, opaque data padded to `size` bytes — as fast as
   the stream takes them or paced to `rate` (envelopes/s over all clients), for
   `envelopes` envelopes or `duration_s` seconds. Each records when it handed every
   envelope to gRPC (`time.monotonic`, CLOCK_MONOTONIC: comparable across
   processes) and the status of each response;
4. meanwhile this process reads the chain from block 1 through a Deliver stream
   from one follower and stamps each envelope when its block arrives;
5. reports envelopes sent, committed (seen in a delivered block), failed by status,
   committed envelopes/s over the window [first send, last of ours delivered], the
   broadcast → delivered latency, and each process's CPU (% of one core over the
   window) and peak RSS.

Envelopes are matched by their signature bytes (unique per envelope).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client.bench.errors import BenchError
from client.bench.orderer_load import (
    Deliverer,
    PeakSampler,
    WorkerResult,
    WorkerSpec,
    broadcast_client,
)
from client.bench.orderer_net import CHANNEL, CLIENT_MSPID, CLIENT_ORG, CLIENT_USER, prepare
from client.bench.procs import LoadClients
from client.bench.stats import LatencySummary, machine_busy_s, match_latencies
from client.launcher import NetworkLayout, NodeSpec, running_pid, start_node, stop_nodes
from client.launcher_probe import leaders, probe_all, wait_ready
from common.msp import SigningIdentity
from protos.common import common_pb2

__all__ = ["BenchOptions", "BenchReport", "ProcessFigures", "run_orderer_bench"]

DRAIN_TIMEOUT_S = 30.0
"""How long, after the last client finished, delivery may take to catch up."""


@dataclass(frozen=True)
class BenchOptions:
    """What to run. Exactly one of `envelopes`/`duration_s` bounds the load; `rate` 0
    means as fast as the cluster takes them."""

    envelopes: int | None = 20_000
    duration_s: float | None = None
    rate: float = 0.0
    clients: int = 4
    size: int = 1024
    batch_timeout_ms: int = 100
    max_message_count: int = 500
    target: str = "leader"
    keep_dir: Path | None = None

    def __post_init__(self) -> None:
        if (self.envelopes is None) == (self.duration_s is None):
            raise BenchError("give exactly one of envelopes and duration")
        if self.clients < 1:
            raise BenchError("clients must be >= 1")
        if self.size < 256:
            raise BenchError("size must be >= 256 bytes (headers and signature take ~200)")
        if self.target not in ("leader", "all"):
            raise BenchError("target must be 'leader' or 'all'")


@dataclass(frozen=True)
class ProcessFigures:
    """One process over the measured window: CPU as % of one core, peak RSS."""

    name: str
    pid: int
    cpu_percent: float
    rss_peak_bytes: int


@dataclass(frozen=True)
class BenchReport:
    options: BenchOptions
    leader: str
    deliver_from: str
    sent: int
    committed: int
    failed: dict[str, int]
    window_s: float
    throughput: float
    latency: LatencySummary | None
    ack_latency: LatencySummary | None
    """Broadcast → SUCCESS (the block is appended on the orderer that took it)."""
    processes: tuple[ProcessFigures, ...]
    envelope_bytes: int
    directory: str | None
    first_failure: str = ""
    other_cpu_percent: float | None = None
    """CPU the rest of the machine used during the run (% of one core): anything
    else running skews the figures."""

    def as_dict(self) -> dict[str, Any]:
        o = self.options
        return {
            "options": {
                "envelopes": o.envelopes,
                "duration_s": o.duration_s,
                "rate": o.rate,
                "clients": o.clients,
                "size": o.size,
                "batch_timeout_ms": o.batch_timeout_ms,
                "max_message_count": o.max_message_count,
                "target": o.target,
            },
            "leader": self.leader,
            "deliver_from": self.deliver_from,
            "envelope_bytes": self.envelope_bytes,
            "sent": self.sent,
            "committed": self.committed,
            "failed": dict(self.failed),
            "first_failure": self.first_failure or None,
            "window_s": round(self.window_s, 3),
            "throughput": round(self.throughput, 1),
            "latency_ms": None if self.latency is None else self.latency.as_ms(),
            "ack_latency_ms": None if self.ack_latency is None else self.ack_latency.as_ms(),
            "processes": [
                {
                    "name": p.name,
                    "pid": p.pid,
                    "cpu_percent": round(p.cpu_percent, 1),
                    "rss_peak_mb": round(p.rss_peak_bytes / 2**20, 1),
                }
                for p in self.processes
            ],
            "other_cpu_percent": None
            if self.other_cpu_percent is None
            else round(self.other_cpu_percent, 1),
            "directory": self.directory,
        }


def _status_name(code: int) -> str:
    try:
        return common_pb2.Status.Name(code)
    except ValueError:
        return str(code)


def run_orderer_bench(
    options: BenchOptions, progress: Callable[[str], None] = lambda _m: None
) -> BenchReport:
    """Run the benchmark (module docstring) and return its figures. Raises `BenchError`
    when the cluster cannot be started or a client fails."""
    if options.keep_dir is not None:
        root = options.keep_dir
        if root.exists() and any(root.iterdir()):
            raise BenchError(f"--keep-dir {root} is not empty")
        root.mkdir(parents=True, exist_ok=True)
    else:
        root = Path(tempfile.mkdtemp(prefix="scf-bench-"))
    layout: NetworkLayout | None = None
    specs: list[NodeSpec] = []
    clients: LoadClients[WorkerResult] = LoadClients()
    deliverer: Deliverer | None = None
    sampler: PeakSampler | None = None
    try:
        progress(f"network folder {root}")
        layout, specs = prepare(root, options.batch_timeout_ms, options.max_message_count)
        for spec in specs:
            start_node(layout, spec)
        progress("started 3 orderers; waiting for a leader")
        wait_ready(layout, specs, timeout=60)
        leader_id = leaders(probe_all(layout, specs)).get(CHANNEL)
        if leader_id is None:
            raise BenchError("no orderer leads the channel")
        leader = next(s for s in specs if s.id == leader_id)
        follower = next(s for s in specs if s.id != leader_id)
        pids = {s.name: running_pid(layout, s) for s in specs}
        sampler = PeakSampler({name: pid for name, pid in pids.items() if pid is not None})
        sampler.add("bench", os.getpid())
        sampler.start()

        config_orgs = root / "crypto"
        tls_ca = config_orgs / "orgs" / "orderer" / "tlsca" / "tlsca-cert.pem"
        user_msp = root / "crypto" / "orgs" / CLIENT_ORG / "users" / CLIENT_USER / "msp"
        signer = SigningIdentity.from_msp_dir(user_msp, CLIENT_MSPID)
        user_tls = user_msp.parent / "tls"
        deliverer = Deliverer(follower.address, tls_ca, user_tls, signer)
        deliverer.start()

        n = options.clients
        targets = [leader] * n if options.target == "leader" else [specs[i % 3] for i in range(n)]
        for i in range(n):
            count = None
            if options.envelopes is not None:
                count = options.envelopes // n + (1 if i < options.envelopes % n else 0)
            wspec = WorkerSpec(
                index=i,
                address=targets[i].address,
                tls_ca=str(tls_ca),
                tls_dir=str(user_tls),
                msp_dir=str(user_msp),
                mspid=CLIENT_MSPID,
                channel=CHANNEL,
                count=count,
                duration_s=options.duration_s,
                rate=options.rate / n,
                size=options.size,
            )
            pid = clients.spawn(broadcast_client, wspec)
            if pid is not None:
                sampler.add(f"client{i}", pid)
        clients.wait_ready()
        progress(
            f"leader {leader.name}; {n} clients → "
            f"{'leader' if options.target == 'leader' else 'all orderers'}; "
            f"delivering from {follower.name}"
        )
        cpu_start = sampler.cpu_now()
        busy_start = machine_busy_s()
        t_start = clients.start(0.2)
        results = clients.wait_results()
        sent: dict[bytes, float] = {}
        failed: dict[bytes, int] = {}
        unanswered = 0
        for r in results:
            sent.update(r.sent)
            failed.update(r.failed)
            unanswered += r.unanswered
        expected = set(sent) - set(failed)
        ack_latencies = [
            t - r.sent[key]
            for r in results
            for key, t in zip(r.sent, r.acked, strict=False)
            if key not in r.failed
        ]
        progress(f"sent {len(sent)}; waiting for delivery")
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while deliverer.count_of(expected) < len(expected) and time.monotonic() < deadline:
            if deliverer.error:
                raise BenchError(deliverer.error)
            time.sleep(0.02)
        cpu_end = sampler.cpu_now()
        busy_end = machine_busy_s()
        delivered = deliverer.snapshot()
        latencies, _foreign = match_latencies(sent, delivered)
        mine = [delivered[k] for k in sent if k in delivered]
        t_end = max(mine) if mine else time.monotonic()
        window = max(t_end - t_start, 1e-9)
        sampler.stop()
        wall = max(time.monotonic() - t_start, 1e-9)
        processes = []
        for name, end in cpu_end.items():
            begin = cpu_start.get(name)
            cpu = end.cpu_s - (begin.cpu_s if begin is not None else 0.0)
            processes.append(
                ProcessFigures(
                    name=name,
                    pid=sampler.pids[name],
                    cpu_percent=100 * cpu / wall,
                    rss_peak_bytes=max(sampler.peak_rss.get(name, 0), end.rss_bytes),
                )
            )
        other_load = None
        if busy_start is not None and busy_end is not None:
            ours = sum(p.cpu_percent for p in processes) / 100
            other_load = max((busy_end - busy_start) / wall - ours, 0.0) * 100
        failures: Counter[str] = Counter(_status_name(s) for s in failed.values())
        if unanswered:
            failures["NO_RESPONSE"] += unanswered
        lost = len(expected) - len(latencies)
        if lost:
            failures["ACKED_NOT_DELIVERED"] += lost
        envelope_bytes = next((r.envelope_bytes for r in results if r.envelope_bytes), 0)
        return BenchReport(
            options=options,
            leader=leader.name,
            deliver_from=follower.name,
            sent=len(sent),
            committed=len(latencies),
            failed=dict(failures),
            window_s=window,
            throughput=len(latencies) / window,
            latency=LatencySummary.of(latencies),
            ack_latency=LatencySummary.of(ack_latencies),
            processes=tuple(processes),
            envelope_bytes=envelope_bytes,
            directory=str(root) if options.keep_dir is not None else None,
            other_cpu_percent=other_load,
            first_failure=next((r.first_failure for r in results if r.first_failure), ""),
        )
    finally:
        clients.stop()
        if deliverer is not None:
            deliverer.close()
        if sampler is not None:
            sampler.stop()
        if layout is not None and specs:
            stop_nodes(layout, specs)
        if options.keep_dir is None:
            shutil.rmtree(root, ignore_errors=True)
