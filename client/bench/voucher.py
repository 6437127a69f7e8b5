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
import datetime as dt
import hashlib
import itertools
import json
import math
import multiprocessing as mp
import queue
import re
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from client.bench.stats import LatencySummary
from client.commit import Commit
from client.contract import Contract
from client.errors import CommitError, GatewayError
from client.gateway import Gateway
from client.profile import load_profile
from common.errors import ScfError

__all__ = [
    "CHAINCODE",
    "CHANNEL",
    "BenchError",
    "Leaf",
    "VoucherBenchOptions",
    "VoucherBenchReport",
    "endorse_retrying",
    "issue_request",
    "outcome_code",
    "platform_today",
    "prepare_pool",
    "run_voucher_bench",
    "submit_all",
    "underlying",
    "voucher_command",
]

CHANNEL = "trade"
CHAINCODE = "receivable"
SUPPLIERS = ("supplier1", "supplier2", "supplier3")
PLATFORM_UTC_OFFSET = dt.timedelta(hours=8)
MAX_DEPTH = 5
"""The default policy's `max_depth`; a partial transfer makes its children one deeper."""
DRAIN_TIMEOUT_S = 60.0
ROTATION = 4
"""Trees each load thread spends in turn."""


class BenchError(ScfError):
    code = "BENCH_FAILED"


# ------------------------------------------------------------------ request builders


def sha256_hex(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def platform_today() -> dt.date:
    """Today's business date on the platform (Asia/Shanghai), as the contracts see it."""
    return dt.datetime.now(dt.timezone(PLATFORM_UTC_OFFSET)).date()


def underlying(label: str) -> dict[str, Any]:
    """Trade documents (hashes only) unique to `label`: a contract and one invoice."""
    return {
        "contract_no": f"C-{label}",
        "contract_hash": sha256_hex(f"contract {label}"),
        "invoice_nos": [f"INV-{label}"],
        "invoice_hashes": [sha256_hex(f"invoice {label}")],
        "goods_desc_hash": sha256_hex(f"goods {label}"),
    }


def issue_request(
    voucher_id: str, payee: str, amount: int, *, days: int = 90, request_id: str | None = None
) -> dict[str, Any]:
    """IssueVoucher arguments: a CNY voucher to `payee` (MSP id) maturing in `days`."""
    return {
        "request_id": request_id or f"issue-{voucher_id}",
        "voucher_id": voucher_id,
        "payee": payee,
        "amount": amount,
        "currency": "CNY",
        "maturity_date": (platform_today() + dt.timedelta(days=days)).isoformat(),
        "underlying": underlying(voucher_id),
    }


_CHAINCODE_CODE = re.compile(r"chaincode response \d+, ([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*): ")

LAG_CODES = frozenset({"ENDORSEMENT_MISMATCH", "NOT_FOUND"})
"""Endorsement failures that mean "one endorsing peer has not committed the last
block yet": the commit status comes from the gateway peer alone."""


def endorse_retrying(
    contract: Contract,
    fn: str,
    args: dict[str, Any],
    *,
    retry: frozenset[str] | None = LAG_CODES,
    attempts: int = 20,
    pause_s: float = 0.1,
) -> tuple[bytes, Commit]:
    """`submit_async`, retried while endorsement fails with a code in `retry` (any
    code when None) — safe: nothing was ordered, and the request id is the same."""
    for attempt in range(attempts):
        try:
            return contract.submit_async(fn, json.dumps(args))
        except GatewayError as exc:
            lagging = retry is None or outcome_code(exc) in retry
            if not lagging or attempt == attempts - 1:
                raise
            time.sleep(pause_s)
    raise AssertionError("unreachable")


def submit_all(contract: Contract, calls: Iterable[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Endorse and submit every call without waiting, then wait for all commits;
    returns the decoded results in order. For set-up steps, each expected to
    succeed: an endorsement refusal is retried for ~2 s (`endorse_retrying` with
    any code), since the step may depend on a block the gateway peer committed but
    the other endorser has not yet. Raises the first error (an `EndorseError`, or
    a `CommitError` after every commit has been waited for)."""
    pending = [endorse_retrying(contract, fn, args, retry=None) for fn, args in calls]
    failure: Exception | None = None
    for _, commit in pending:
        status = commit.status()
        if not status.successful and failure is None:
            failure = CommitError(status.transaction_id, status.code, status.block_number)
    if failure is not None:
        raise failure
    return [json.loads(result) for result, _ in pending]


@dataclass(frozen=True)
class Leaf:
    """A prepared leaf: its id, depth, amount and holder (profile org name)."""

    voucher_id: str
    depth: int
    amount: int
    holder: str


def prepare_pool(
    profile: str | Path,
    *,
    roots: int,
    children: int,
    leaf_amount: int,
    holders: Sequence[str] = SUPPLIERS,
    issuer_org: str = "core",
    tag: str | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> list[Leaf]:
    """Issue `roots` vouchers round-robin to `holders` (profile org names), accept
    each and split it into `children` leaves of `leaf_amount`; returns the leaves.
    Root ids are `BV.<tag>.r<k>` (a fresh tag by default, so runs don't collide)."""
    tag = tag or uuid.uuid4().hex[:8]
    loaded = load_profile(profile)
    mspid = {org: loaded.org(org).mspid for org in holders}
    plan = [(f"BV.{tag}.r{k}", holders[k % len(holders)]) for k in range(roots)]
    with Gateway.from_profile(profile, org=issuer_org, user="User1") as issuer:
        contract = issuer.network(CHANNEL).contract(CHAINCODE)
        for k, (root_id, holder) in enumerate(plan):
            # One at a time: each issuance updates the issuer's exposure record.
            submit_all(
                contract,
                [("IssueVoucher", issue_request(root_id, mspid[holder], leaf_amount * children))],
            )
            if k % 10 == 9:
                progress(f"issued {k + 1}/{roots} roots")
    gateways = {org: Gateway.from_profile(profile, org=org, user="User1") for org in holders}
    try:
        for org, gateway in gateways.items():
            mine = [root_id for root_id, holder in plan if holder == org]
            contract = gateway.network(CHANNEL).contract(CHAINCODE)
            submit_all(
                contract,
                [("AcceptVoucher", {"request_id": f"accept-{r}", "voucher_id": r}) for r in mine],
            )
            submit_all(
                contract,
                [
                    (
                        "SplitVoucher",
                        {
                            "request_id": f"split-{r}",
                            "voucher_id": r,
                            "amounts": [leaf_amount] * children,
                        },
                    )
                    for r in mine
                ],
            )
    finally:
        for gateway in gateways.values():
            gateway.close()
    progress(f"pool: {roots} roots × {children} leaves of {leaf_amount}")
    return [
        Leaf(f"{root_id}-{k}", 1, leaf_amount, holder)
        for root_id, holder in plan
        for k in range(1, children + 1)
    ]


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


def outcome_code(exc: Exception) -> str:
    """The code of a failed call: the contract's or gateway's error code, the
    validation code of an invalid commit, or ENDORSEMENT_MISMATCH when the
    endorsers returned different results."""
    if isinstance(exc, GatewayError):
        if exc.code == "ENDORSE_FAILED" and "do not match" in exc.message:
            return "ENDORSEMENT_MISMATCH"
        if exc.code in ("ENDORSE_FAILED", "EVALUATE_FAILED"):
            # `GatewayError` finds an embedded one-word code ("chaincode response
            # 500, FROZEN: ...") only at the start of a message; look again.
            for text in (exc.message, *(d.message for d in exc.details)):
                match = _CHAINCODE_CODE.search(text)
                if match:
                    return match.group(1)
        return exc.code
    if isinstance(exc, ScfError):
        return exc.code
    return type(exc).__name__


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
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    result = _WorkerResult(spec.index)
    try:
        with Gateway.from_profile(spec.profile, org=spec.org, user="User1") as gateway:
            contract = gateway.network(CHANNEL).contract(CHAINCODE)
            # Warm the connection (TLS handshake) before the clock starts.
            contract.evaluate("GetVoucher", json.dumps({"voucher_id": spec.leaves[0][0]}))
            out.put(("ready", spec.index))
            go.wait()
            t0 = float(start_at.value)
            delay = t0 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
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


def _get(out: Any, workers: list[Any], timeout: float) -> tuple[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            item: tuple[str, Any] = out.get(timeout=1.0)
            return item
        except queue.Empty:
            dead = [p for p in workers if not p.is_alive() and p.exitcode not in (0, None)]
            if dead:
                raise BenchError(f"load client exited with code {dead[0].exitcode}") from None
            if time.monotonic() > deadline:
                raise BenchError("load clients did not answer in time") from None


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
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    start_at = ctx.Value("d", 0.0)
    out = ctx.Queue()
    workers: list[Any] = []
    try:
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
            proc = ctx.Process(target=_worker, args=(spec, go, start_at, out), daemon=True)
            proc.start()
            workers.append(proc)
        results: list[_WorkerResult] = []
        ready = 0
        while ready < options.clients:
            kind, value = _get(out, workers, 120)
            ready += 1
            if kind == "result":
                results.append(value)
        for r in results:
            if r.error:
                raise BenchError(f"load client {r.index}: {r.error}")
        progress(f"{options.clients} clients connected; running {options.duration_s:g} s")
        start_at.value = time.monotonic() + 0.2
        go.set()
        while len(results) < options.clients:
            kind, value = _get(out, workers, options.duration_s + DRAIN_TIMEOUT_S + 30)
            if kind == "result":
                results.append(value)
        for r in results:
            if r.error:
                raise BenchError(f"load client {r.index}: {r.error}")
    finally:
        for proc in workers:
            if proc.is_alive():
                proc.terminate()
        for proc in workers:
            proc.join(timeout=5)
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
@click.option(
    "--profile",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(".scf/net/connection.yaml"),
    show_default=True,
    help="Connection profile of a running network (`scf network up`).",
)
@click.option("--duration", type=click.FloatRange(min=0.1), default=30.0, show_default=True)
@click.option(
    "--clients",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Client processes (one gateway connection each, as a supplier's User1).",
)
@click.option(
    "--in-flight",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Outstanding transactions per client (threads, each waiting for its commit).",
)
@click.option("--roots", type=click.IntRange(min=1), help="Pool size in roots of 100 leaves.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
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

        def progress(message: str) -> None:
            click.echo(f"· {message}", err=True)

        report = run_voucher_bench(options, progress)
    except ScfError as exc:
        raise click.ClickException(f"{exc.code}: {exc}") from None
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        click.echo(report.render())


if __name__ == "__main__":
    voucher_command()
