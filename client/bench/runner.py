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
   prepares a pool of accepted, split vouchers (`client.bench.voucher.prepare_pool`:
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

import collections
import contextlib
import itertools
import json
import math
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from client.bench.node_client import DRAIN_TIMEOUT_S, run_node_clients
from client.bench.report import BenchSummary, NodeFigures, Sample, node_figures, summarize
from client.bench.sampler import Sampler
from client.bench.voucher import (
    CHANNEL,
    SUPPLIERS,
    BenchError,
    outcome_code,
    prepare_pool,
)
from client.bench.workloads import (
    KV_CHAINCODE,
    WORKLOADS,
    Call,
    FixedLoad,
    FixedRate,
    KeyPool,
    RateControl,
    client_orgs,
    kv_call,
    per_client,
    query_key,
    split_evenly,
)
from client.contract import Contract
from client.gateway import Gateway
from client.identity import Identity
from client.profile import ConnectionProfile, load_profile

__all__ = ["BenchConfig", "BenchResult", "network_pids", "run_bench"]

VOUCHER_CHAINCODE = "receivable"
VOUCHER_PIECE = 1_000
VOUCHER_LEAF = 1_000_000
VOUCHER_MAX_DEPTH = 5
FINANCIER = "BankMSP"


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


def connect(
    profile_path: Path, org: str, peer_name: str | None = None, *, batching: bool = False
) -> Gateway:
    """`Gateway.from_profile` as `User1` of `org`, through `peer_name` (one of the
    org's peers or gateway peers) instead of the first when given; with `batching`,
    in the SDK's batching mode (`client.batching`)."""
    profile = load_profile(profile_path)
    org_profile = profile.org(org)
    user = org_profile.user("User1")
    if user.cert is not None and user.key is not None:
        identity = Identity.from_files(org_profile.mspid, user.cert, user.key)
    else:
        assert user.msp_dir is not None
        identity = Identity.from_msp_dir(user.msp_dir, org_profile.mspid)
    peer = profile.peers[peer_name] if peer_name else profile.gateway_peer(org)
    return Gateway.connect(
        peer.address,
        identity=identity,
        tls_root=peer.tls_ca if peer.tls else None,
        client_cert=user.tls_cert if peer.tls else None,
        client_key=user.tls_key if peer.tls else None,
        server_name=peer.server_name,
        batching=batching,
    )


# ------------------------------------------------------------------ a load client


@dataclass(frozen=True)
class _Spec:
    index: int
    profile: str
    org: str
    peer: str
    workload: str
    run: str
    control: RateControl
    value_size: int
    stop_after_s: float | None
    tx_count: int | None
    chaincode: str
    channel: str
    to_mspid: str = ""
    leaves: tuple[tuple[str, int], ...] = ()
    batching: bool = True


@dataclass
class _Outcome:
    index: int
    samples: list[tuple[float, float, str, str, float, float]] = field(default_factory=list)
    late: int = 0
    error: str = ""
    first_failure: str = ""


def _send(contract: Contract, call: Call) -> tuple[str, float, float]:
    """Run one call; returns (code, endorse s, submit s). Never raises."""
    if call.kind == "evaluate":
        try:
            contract.evaluate(call.function, json.dumps(call.args))
            return "OK", 0.0, 0.0
        except Exception as exc:  # every failure is a figure
            return outcome_code(exc), 0.0, 0.0
    t = time.monotonic()
    try:
        transaction = contract.new_proposal(call.function, json.dumps(call.args)).endorse()
        t1 = time.monotonic()
        commit = transaction.submit()
        t2 = time.monotonic()
        status = commit.status()
        return ("VALID" if status.successful else status.code_name), t1 - t, t2 - t1
    except Exception as exc:
        return outcome_code(exc), 0.0, 0.0


class _Tickets:
    """Sequence numbers for a client's sends, bounded by a count and a deadline."""

    def __init__(self, limit: int | None, deadline: float) -> None:
        self._n = itertools.count()
        self._lock = threading.Lock()
        self._limit = limit
        self._deadline = deadline

    def take(self) -> int | None:
        if time.monotonic() >= self._deadline:
            return None
        with self._lock:
            n = next(self._n)
        return None if self._limit is not None and n >= self._limit else n


def _kv_calls(spec: _Spec, slot: int) -> Iterator[Call]:
    for seq in itertools.count():
        yield kv_call(
            spec.workload,
            run=spec.run,
            client=spec.index,
            slot=slot,
            seq=seq,
            value_size=spec.value_size,
        )


def _voucher_calls(spec: _Spec, leaves: list[tuple[str, int]]) -> Generator[Call, str, None]:
    """Transfer a piece / request financing of a piece, alternating down each tree;
    needs `.send(code)` after each call to learn whether to follow the rest child."""
    chain = iter(leaves)
    rotation = collections.deque(itertools.islice(chain, 4))
    step = 0
    while rotation:
        voucher_id, depth = rotation.popleft()
        step += 1
        if step % 2:
            call = Call(
                "TransferVoucher",
                {
                    "request_id": f"vf-{spec.run}-{spec.index}-{step}-{voucher_id}",
                    "voucher_id": voucher_id,
                    "to": spec.to_mspid,
                    "amount": VOUCHER_PIECE,
                },
            )
        else:
            call = Call(
                "RequestFinancing",
                {
                    "request_id": f"vf-{spec.run}-{spec.index}-{step}-{voucher_id}",
                    "voucher_id": voucher_id,
                    "financier": FINANCIER,
                    "amount": VOUCHER_PIECE,
                },
            )
        code = yield call
        if code == "VALID" and depth + 1 < VOUCHER_MAX_DEPTH:
            rotation.append((f"{voucher_id}-2", depth + 1))
        else:
            rotation.extend(itertools.islice(chain, 1))


def _client_main(spec: _Spec, go: Any, start_at: Any, out: Any) -> None:
    """One load client process (module docstring, step 3)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    result = _Outcome(spec.index)
    lock = threading.Lock()

    def record(call: Call, sent: float, code: str, endorse_s: float, submit_s: float) -> None:
        latency = time.monotonic() - sent
        with lock:
            result.samples.append((sent, latency, code, call.function, endorse_s, submit_s))
            if code not in ("VALID", "OK") and not result.first_failure:
                what = call.args.get("key") or call.args.get("voucher_id", "")
                result.first_failure = f"{call.function} {what}: {code}"

    try:
        with connect(Path(spec.profile), spec.org, spec.peer, batching=spec.batching) as gateway:
            contract = gateway.network(spec.channel).contract(spec.chaincode)
            if spec.workload == "query":
                for k in range(8):
                    contract.submit(
                        "Put", json.dumps({"key": query_key(spec.run, spec.index, k), "value": "q"})
                    )
            # Warm the connection (TLS handshake, channel) before the clock starts.
            warm = "GetVoucher" if spec.workload == "voucher-flow" else "Get"
            with contextlib.suppress(Exception):  # a missing voucher is fine: the link is up
                contract.evaluate(warm, json.dumps({"key": "warm", "voucher_id": "warm"}))
            out.put(("ready", spec.index))
            go.wait()
            t0 = float(start_at.value)
            delay = t0 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            deadline = t0 + spec.stop_after_s if spec.stop_after_s is not None else math.inf
            tickets = _Tickets(spec.tx_count, deadline)
            if isinstance(spec.control, FixedLoad):
                _closed_loop(spec, contract, tickets, record)
            else:
                result.late = _open_loop(spec, spec.control, contract, t0, tickets, record)
    except Exception as exc:  # reported to the parent, which fails the run
        result.error = f"{type(exc).__name__}: {exc}"
    with lock:
        out.put(("result", result))


def _closed_loop(
    spec: _Spec,
    contract: Contract,
    tickets: _Tickets,
    record: Callable[[Call, float, str, float, float], None],
) -> None:
    assert isinstance(spec.control, FixedLoad)
    slots = spec.control.in_flight

    def kv_slot(slot: int) -> None:
        calls = _kv_calls(spec, slot)
        while tickets.take() is not None:
            call = next(calls)
            sent = time.monotonic()
            record(call, sent, *_send(contract, call))

    def voucher_slot(slot: int) -> None:
        gen = _voucher_calls(spec, list(spec.leaves[slot::slots]))
        try:
            call = next(gen)
            while tickets.take() is not None:
                sent = time.monotonic()
                code, e, s = _send(contract, call)
                record(call, sent, code, e, s)
                call = gen.send(code)
        except StopIteration:
            pass

    target = voucher_slot if spec.workload == "voucher-flow" else kv_slot
    threads = [threading.Thread(target=target, args=(s,), daemon=True) for s in range(slots)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _open_loop(
    spec: _Spec,
    control: FixedRate,
    contract: Contract,
    t0: float,
    tickets: _Tickets,
    record: Callable[[Call, float, str, float, float], None],
) -> int:
    """Sends at `control.rate`; returns how many sends found the cap reached."""
    if spec.workload == "voucher-flow":
        raise BenchError("voucher-flow runs under a fixed in-flight load only")
    calls = _kv_calls(spec, 0)
    keys = KeyPool(f"rmw.{spec.run}.{spec.index}")
    keys_lock = threading.Lock()
    room = threading.BoundedSemaphore(control.cap)
    late = 0

    def task(call: Call, sent: float) -> None:
        try:
            record(call, sent, *_send(contract, call))
        finally:
            if spec.workload == "read-modify-write":
                with keys_lock:
                    keys.give(call.args["key"], time.monotonic())
            room.release()

    with ThreadPoolExecutor(max_workers=control.cap) as pool:
        i = 0
        while True:
            due = control.due(i, t0)
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            if tickets.take() is None:
                break
            if not room.acquire(blocking=False):
                late += 1
                room.acquire()
            call = next(calls)
            if spec.workload == "read-modify-write":
                with keys_lock:
                    key = keys.take(time.monotonic())
                call = Call(call.function, {**call.args, "key": key}, call.kind)
            pool.submit(task, call, time.monotonic())
            i += 1
    return late


# ------------------------------------------------------------------ the parent


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


def _to_samples(outcomes: list[_Outcome]) -> list[Sample]:
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
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    start_at = ctx.Value("d", 0.0)
    out = ctx.Queue()
    workers: list[Any] = []
    results: list[_Outcome] = []
    try:
        for i, (org, peer) in enumerate(zip(orgs, chosen, strict=True)):
            leaves: tuple[tuple[str, int], ...] = ()
            to_mspid = ""
            if config.workload == "voucher-flow":
                mine = [k for k, o in enumerate(orgs) if o == org]
                leaves = tuple(by_org[org][mine.index(i) :: len(mine)])
                nxt = SUPPLIERS[(SUPPLIERS.index(org) + 1) % len(SUPPLIERS)]
                to_mspid = profile.org(nxt).mspid
            spec = _Spec(
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
            proc = ctx.Process(target=_client_main, args=(spec, go, start_at, out), daemon=True)
            proc.start()
            workers.append(proc)
            assert proc.pid is not None
            sampler.add(f"client{i}", proc.pid)
        ready = 0
        while ready < config.clients:
            kind, value = _get(out, workers, 180)
            ready += 1
            if kind == "result":
                results.append(value)
        for r in results:
            if r.error:
                raise BenchError(f"load client {r.index}: {r.error}")
        what = (
            f"{config.duration_s:g} s after {config.warmup_s:g} s warm-up"
            if config.duration_s is not None
            else f"{config.tx_count} transactions"
        )
        progress(f"{config.clients} clients connected ({', '.join(chosen)}); running {what}")
        sampler.tick()
        sampler.start()
        t0 = time.monotonic() + 0.3
        start_at.value = t0
        go.set()
        budget = (stop_after or 3600) + DRAIN_TIMEOUT_S + 60
        while len(results) < config.clients:
            kind, value = _get(out, workers, budget)
            if kind == "result":
                results.append(value)
        sampler.stop()
        for r in results:
            if r.error:
                raise BenchError(f"load client {r.index}: {r.error}")
    finally:
        if sampler.is_alive():
            sampler.stop()
        for proc in workers:
            if proc.is_alive():
                proc.terminate()
        for proc in workers:
            proc.join(timeout=5)
    first = next((r.first_failure for r in results if r.first_failure), "")
    return _to_samples(results), sum(r.late for r in results), first, t0
