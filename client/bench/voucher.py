"""`scf bench voucher`: receivable split+transfer transactions/s on a running network.

    python -m client.bench.voucher --profile DIR/connection.yaml --duration 30 --clients 4

What it does, in order:

1. **Pool.** As the core enterprise (`--issuer-org`, user `User1`) it issues
   `roots` vouchers round-robin to the supplier orgs (one at a time: every issuance
   updates the issuer's exposure record, so concurrent issuances would conflict),
   each payee accepts its root and splits it into `children` leaves of
   `leaf_amount` (accepts and splits run concurrently; they touch disjoint keys).
2. **Load.** `clients` processes (spawned; one `Gateway` connection each, as
   `User1` of one supplier org) each run `in_flight` threads, so at most
   `clients × in_flight` transactions are outstanding. Every thread owns disjoint
   leaves and loops: `TransferVoucher {voucher_id, to: next supplier, amount:
   piece}` — a partial transfer, i.e. an atomic split into `[piece, rest]` plus a
   transfer of the first child — and waits for its commit status. After a VALID
   commit it carries on with the `rest` child (`{id}-2`, one level deeper) until the
   policy's `max_depth`, then takes its next leaf. Threads own disjoint trees, so an
   MVCC conflict here would be a bug, and is counted like any other failure.
3. **Report.** Transactions submitted (endorsement requested), committed VALID,
   failed by code (contract/gateway error codes, or the validation code of an
   invalid commit), VALID transactions/s over the window [first submission, last
   VALID commit], and latency (endorse → commit status returned) of the VALID ones.

Timestamps are `time.monotonic()` (CLOCK_MONOTONIC, comparable across processes).
The client imports only `client`, `common` and `protos`.
"""

from __future__ import annotations

import collections
import itertools
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from client.bench.errors import BenchError
from client.bench.procs import LoadClients, client_process_setup, wait_for_start
from client.bench.stats import LatencySummary
from client.bench.voucher_pool import CHAINCODE, CHANNEL, SUPPLIERS, outcome_code, prepare_pool
from client.cli.bench_options import clients_option, echo_progress, json_flag, profile_option
from client.contract import Contract
from client.gateway import Gateway
from client.profile import load_profile
from common.errors import ScfError

__all__ = [
    "VoucherBenchOptions",
    "VoucherBenchReport",
    "run_voucher_bench",
    "voucher_command",
]

MAX_DEPTH = 5
"""The default policy's `max_depth`; a partial transfer makes its children one deeper."""
DRAIN_TIMEOUT_S = 60.0
ROTATION = 4
"""Trees each load thread spends in turn."""


# ------------------------------------------------------------------------ the load


@dataclass(frozen=True)
class VoucherBenchOptions:
    """`duration_s` of load from `clients` processes × `in_flight` threads each."""

    profile: Path
    duration_s: float = 30.0
    clients: int = 4
    in_flight: int = 8
    piece: int = 1_000
    leaf_amount: int = 1_000_000
    children: int = 100
    roots: int | None = None
    """None: enough for ~10 tx/s per thread over the duration."""
    max_depth: int = MAX_DEPTH

    def __post_init__(self) -> None:
        if self.clients < 1 or self.in_flight < 1:
            raise BenchError("clients and in_flight must be >= 1")
        if not 2 <= self.children <= 100:
            raise BenchError("children must be in [2, 100] (the policy's max_children)")
        if self.piece * 2 ** (self.max_depth - 1) > self.leaf_amount:
            raise BenchError("leaf_amount too small for the chain of partial transfers")

    @property
    def threads(self) -> int:
        return self.clients * self.in_flight

    def pool_roots(self) -> int:
        if self.roots is not None:
            return self.roots
        per_leaf = self.max_depth - 1  # partial transfers a depth-1 leaf can take
        leaves_needed = self.threads * math.ceil(self.duration_s * 10 / per_leaf)
        return max(len(SUPPLIERS), math.ceil(leaves_needed / self.children))


@dataclass(frozen=True)
class _WorkerSpec:
    index: int
    profile: str
    org: str
    to_mspid: str
    leaves: tuple[tuple[str, int], ...]
    in_flight: int
    duration_s: float
    piece: int
    max_depth: int


@dataclass
class _WorkerResult:
    index: int
    samples: list[tuple[float, float, str]] = field(default_factory=list)
    """(submitted at, latency s, outcome code: "VALID" or an error code)."""
    exhausted: int = 0
    error: str = ""
    first_failure: str = ""


def _thread_loop(
    contract: Contract,
    spec: _WorkerSpec,
    leaves: list[tuple[str, int]],
    t0: float,
    result: _WorkerResult,
    lock: threading.Lock,
    ids: Iterator[int],
) -> None:
    chain = iter(leaves)
    # A few trees in rotation: the rest child of a transfer is spent only after the
    # others had their turn, so every endorsing peer has committed it by then (the
    # commit status comes from the gateway peer alone; the other endorser may lag).
    rotation = collections.deque(itertools.islice(chain, ROTATION))
    while rotation and time.monotonic() < t0 + spec.duration_s:
        voucher_id, depth = rotation.popleft()
        args = {
            "request_id": f"bt-{spec.index}-{next(ids)}-{voucher_id}",
            "voucher_id": voucher_id,
            "to": spec.to_mspid,
            "amount": spec.piece,
        }
        began = time.monotonic()
        try:
            _, commit = contract.submit_async("TransferVoucher", json.dumps(args))
            status = commit.status()
            code = "VALID" if status.successful else status.code_name
        except Exception as exc:  # every failure is a figure, not a crash
            code = outcome_code(exc)
            with lock:
                result.first_failure = result.first_failure or f"{voucher_id}: {exc}"
        latency = time.monotonic() - began
        with lock:
            result.samples.append((began, latency, code))
        if code == "VALID" and depth + 1 < spec.max_depth:
            rotation.append((f"{voucher_id}-2", depth + 1))  # the rest stays, one deeper
        else:
            rotation.extend(itertools.islice(chain, 1))
    if not rotation:
        with lock:
            result.exhausted += 1


def _worker(spec: _WorkerSpec, go: Any, start_at: Any, out: Any) -> None:
    """One load client process: connect, report ready, wait for `go`, run its threads
    until the duration is over, put its `_WorkerResult`."""
    client_process_setup()
    result = _WorkerResult(spec.index)
    try:
        with Gateway.from_profile(spec.profile, org=spec.org, user="User1") as gateway:
            contract = gateway.network(CHANNEL).contract(CHAINCODE)
            # Warm the connection (TLS handshake) before the clock starts.
            contract.evaluate("GetVoucher", json.dumps({"voucher_id": spec.leaves[0][0]}))
            out.put(("ready", spec.index))
            t0 = wait_for_start(go, start_at)
            lock = threading.Lock()
            counter = itertools.count()
            shares = [list(spec.leaves[i :: spec.in_flight]) for i in range(spec.in_flight)]
            threads = [
                threading.Thread(
                    target=_thread_loop,
                    args=(contract, spec, share, t0, result, lock, counter),
                    daemon=True,
                )
                for share in shares
                if share
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=spec.duration_s + DRAIN_TIMEOUT_S)
    except Exception as exc:  # reported to the parent, which fails the run
        result.error = f"{type(exc).__name__}: {exc}"
    out.put(("result", result))


@dataclass(frozen=True)
class VoucherBenchReport:
    options: VoucherBenchOptions
    pool_leaves: int
    submitted: int
    committed: int
    failed: dict[str, int]
    window_s: float
    throughput: float
    latency: LatencySummary | None
    exhausted_threads: int = 0
    first_failure: str = ""

    def as_dict(self) -> dict[str, Any]:
        o = self.options
        return {
            "options": {
                "profile": str(o.profile),
                "duration_s": o.duration_s,
                "clients": o.clients,
                "in_flight_per_client": o.in_flight,
                "max_in_flight": o.threads,
                "piece": o.piece,
            },
            "pool_leaves": self.pool_leaves,
            "submitted": self.submitted,
            "committed_valid": self.committed,
            "failed": dict(self.failed),
            "first_failure": self.first_failure or None,
            "window_s": round(self.window_s, 3),
            "throughput_tx_s": round(self.throughput, 1),
            "latency_ms": None if self.latency is None else self.latency.as_ms(),
            "exhausted_threads": self.exhausted_threads,
        }

    def render(self) -> str:
        o = self.options
        lines = [
            f"load             {o.duration_s:g} s, {o.clients} clients × {o.in_flight} in "
            f"flight = {o.threads} max outstanding; TransferVoucher partial "
            f"(split [{o.piece}, rest] + transfer)",
            f"pool             {self.pool_leaves} leaves",
            f"submitted        {self.submitted}",
            f"committed VALID  {self.committed}",
            "failed           "
            + (", ".join(f"{k} {v}" for k, v in sorted(self.failed.items())) or "0"),
        ]
        if self.first_failure:
            lines.append(f"first failure    {self.first_failure}")
        lines.append(
            f"throughput       {self.throughput:.1f} tx/s VALID (window {self.window_s:.2f} s)"
        )
        if self.latency is not None:
            lines.append(
                "latency          endorse→committed "
                + "  ".join(f"{k} {v:.0f} ms" for k, v in self.latency.as_ms().items())
            )
        if self.exhausted_threads:
            lines.append(
                f"warning          {self.exhausted_threads} threads ran out of leaves; give --roots"
            )
        return "\n".join(lines)


def run_voucher_bench(
    options: VoucherBenchOptions, progress: Callable[[str], None] = lambda _m: None
) -> VoucherBenchReport:
    """Prepare the pool and run the load (module docstring). Raises `BenchError` if a
    client cannot start, or an SDK/profile error if the pool cannot be prepared."""
    profile = load_profile(options.profile)
    mspid = {org: profile.org(org).mspid for org in SUPPLIERS}
    roots = options.pool_roots()
    progress(f"preparing {roots} roots × {options.children} leaves")
    leaves = prepare_pool(
        options.profile,
        roots=roots,
        children=options.children,
        leaf_amount=options.leaf_amount,
        progress=progress,
    )
    by_org = {
        org: [(leaf.voucher_id, leaf.depth) for leaf in leaves if leaf.holder == org]
        for org in SUPPLIERS
    }
    clients_of = {
        org: [i for i in range(options.clients) if SUPPLIERS[i % len(SUPPLIERS)] == org]
        for org in SUPPLIERS
    }
    with LoadClients[_WorkerResult]() as clients:
        for i in range(options.clients):
            org = SUPPLIERS[i % len(SUPPLIERS)]
            position = clients_of[org].index(i)
            share = tuple(by_org[org][position :: len(clients_of[org])])
            if not share:
                raise BenchError(f"no leaves for client {i}; give more --roots")
            spec = _WorkerSpec(
                index=i,
                profile=str(options.profile),
                org=org,
                to_mspid=mspid[SUPPLIERS[(i + 1) % len(SUPPLIERS)]],
                leaves=share,
                in_flight=options.in_flight,
                duration_s=options.duration_s,
                piece=options.piece,
                max_depth=options.max_depth,
            )
            clients.spawn(_worker, spec)
        clients.wait_ready(timeout=120)
        progress(f"{options.clients} clients connected; running {options.duration_s:g} s")
        clients.start(0.2)
        results = clients.wait_results(timeout=options.duration_s + DRAIN_TIMEOUT_S + 30)
    samples = [s for r in results for s in r.samples]
    valid = [s for s in samples if s[2] == "VALID"]
    failed = Counter(s[2] for s in samples if s[2] != "VALID")
    if valid:
        t_start = min(s[0] for s in samples)
        window = max(s[0] + s[1] for s in valid) - t_start
    else:
        window = options.duration_s
    window = max(window, 1e-9)
    return VoucherBenchReport(
        options=options,
        pool_leaves=len(leaves),
        submitted=len(samples),
        committed=len(valid),
        failed=dict(failed),
        window_s=window,
        throughput=len(valid) / window,
        latency=LatencySummary.of([s[1] for s in valid]),
        exhausted_threads=sum(r.exhausted for r in results),
        first_failure=next((r.first_failure for r in results if r.first_failure), ""),
    )


# ------------------------------------------------------------------------- command


@click.command(name="voucher")
@profile_option("Connection profile of a running network (`scf network up`).")
@click.option("--duration", type=click.FloatRange(min=0.1), default=30.0, show_default=True)
@clients_option("Client processes (one gateway connection each, as a supplier's User1).")
@click.option(
    "--in-flight",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Outstanding transactions per client (threads, each waiting for its commit).",
)
@click.option("--roots", type=click.IntRange(min=1), help="Pool size in roots of 100 leaves.")
@json_flag()
def voucher_command(
    profile: Path,
    duration: float,
    clients: int,
    in_flight: int,
    roots: int | None,
    as_json: bool,
) -> None:
    """Voucher split+transfer (partial TransferVoucher) transactions/s and commit
    latency on a running network; prints submitted, VALID, failed by code."""
    try:
        options = VoucherBenchOptions(
            profile=profile,
            duration_s=duration,
            clients=clients,
            in_flight=in_flight,
            roots=roots,
        )
        report = run_voucher_bench(options, echo_progress)
    except ScfError as exc:
        raise click.ClickException(f"{exc.code}: {exc}") from None
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        click.echo(report.render())


if __name__ == "__main__":
    voucher_command()
