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

import multiprocessing as mp
import os
import queue
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

import grpc

from client.bench.stats import (
    LatencySummary,
    ProcSample,
    machine_busy_s,
    match_latencies,
    read_proc_sample,
)
from client.cryptogen import generate
from client.genesis import write_genesis_blocks
from client.launcher import (
    NetworkLayout,
    NodeRole,
    NodeSpec,
    node_specs,
    running_pid,
    start_node,
    stop_nodes,
)
from client.launcher_probe import leaders, probe_all, wait_ready
from client.netconfig import NetworkConfig, parse_network_config
from client.nodeconfig import write_node_configs
from common import tls
from common.crypto import compute_txid, new_nonce
from common.errors import ScfError
from common.msp import SigningIdentity
from common.txutil import build_seek_envelope, seek_info
from protos.common import common_pb2
from protos.orderer import ab_pb2

__all__ = [
    "BenchError",
    "BenchOptions",
    "BenchReport",
    "ProcessFigures",
    "bench_network",
    "envelope_maker",
    "run_orderer_bench",
]

CHANNEL = "bench"
CLIENT_ORG = "benchclient"
CLIENT_MSPID = "BenchClientMSP"
CLIENT_USER = "User1"
DRAIN_TIMEOUT_S = 30.0
"""How long, after the last client finished, delivery may take to catch up."""
SAMPLE_INTERVAL_S = 0.25
BROADCAST = "/orderer.AtomicBroadcast/Broadcast"


class BenchError(ScfError):
    code = "BENCH_FAILED"


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


# ---------------------------------------------------------------------- network folder


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def bench_network(ports: list[int], batch_timeout_ms: int, max_message_count: int) -> NetworkConfig:
    """Three orderers (ports[0:9]: port, cluster port, operations port each) and one
    client org on channel `bench` with the given batch parameters."""
    if len(ports) < 9:
        raise BenchError("bench_network needs 9 ports")
    orderers = [
        {
            "name": f"orderer{i}",
            "host": "127.0.0.1",
            "port": ports[3 * i],
            "cluster_port": ports[3 * i + 1],
            "operations_port": ports[3 * i + 2],
        }
        for i in range(3)
    ]
    raw = {
        "orgs": [
            {
                "name": "orderer",
                "mspid": "OrdererMSP",
                "kind": "orderer",
                "domain": "orderer.bench.example",
                "orderers": orderers,
            },
            {
                "name": CLIENT_ORG,
                "mspid": CLIENT_MSPID,
                "kind": "core",
                "domain": "client.bench.example",
                "users": [{"name": CLIENT_USER, "role": "client"}],
            },
        ],
        "channels": [
            {
                "name": CHANNEL,
                "orgs": [CLIENT_MSPID],
                "orderer_orgs": ["OrdererMSP"],
                "batch": {
                    "max_message_count": max_message_count,
                    "batch_timeout_ms": batch_timeout_ms,
                },
                "raft": {"snapshot_interval_blocks": 100},
                "chaincodes": [],
                "governance": {"approvers": [CLIENT_MSPID]},
            }
        ],
    }
    return parse_network_config(raw)


# ------------------------------------------------------------------------- envelopes


def envelope_maker(signer: SigningIdentity, channel: str, size: int) -> Callable[[], bytes]:
    """A function returning a fresh signed envelope of about `size` bytes (±2: DER
    signatures vary in length) each call: ENDORSER_TRANSACTION, new nonce and txid."""
    creator = signer.serialize()

    def make(data: bytes) -> bytes:
        nonce = new_nonce()
        header = common_pb2.ChannelHeader(
            type=common_pb2.ENDORSER_TRANSACTION,
            channel_id=channel,
            tx_id=compute_txid(nonce, creator),
        )
        payload = common_pb2.Payload(
            header=common_pb2.Header(
                channel_header=header.SerializeToString(),
                signature_header=common_pb2.SignatureHeader(
                    creator=creator, nonce=nonce
                ).SerializeToString(),
            ),
            data=data,
        ).SerializeToString()
        return common_pb2.Envelope(
            payload=payload, signature=signer.sign(payload)
        ).SerializeToString()

    overhead = len(make(b"x" * 200)) - 200
    padding = b"\x00" * max(size - overhead, 0)
    return lambda: make(padding)


def signature_of(envelope: bytes) -> bytes:
    return common_pb2.Envelope.FromString(envelope).signature


# ------------------------------------------------------------------------ load clients


@dataclass(frozen=True)
class WorkerSpec:
    index: int
    address: str
    tls_ca: str
    tls_dir: str
    """The user's `tls/` folder: `client.crt`/`client.key`, presented to the orderer
    (its public port requires a client certificate)."""
    msp_dir: str
    mspid: str
    channel: str
    count: int | None
    duration_s: float | None
    rate: float
    size: int


@dataclass
class WorkerResult:
    index: int
    sent: dict[bytes, float] = field(default_factory=dict)
    failed: dict[bytes, int] = field(default_factory=dict)
    unanswered: int = 0
    error: str = ""
    envelope_bytes: int = 0
    first_failure: str = ""
    acked: list[float] = field(default_factory=list)
    """When each response arrived, in request order (the stream answers in order)."""


def _worker(spec: WorkerSpec, go: MpEvent, start_at: Any, out: Any) -> None:
    """One load client (runs in its own process). Reports `("ready", index)` once
    connected, then waits for `go`; sends, and finally puts its `WorkerResult`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    result = WorkerResult(spec.index)
    try:
        signer = SigningIdentity.from_msp_dir(spec.msp_dir, spec.mspid)
        make = envelope_maker(signer, spec.channel, spec.size)
        result.envelope_bytes = len(make())
        tls_dir = Path(spec.tls_dir)
        creds = tls.ClientTls.load(
            [Path(spec.tls_ca)], tls_dir / "client.crt", tls_dir / "client.key"
        ).credentials()
        with grpc.secure_channel(spec.address, creds, options=tls.channel_options()) as ch:
            grpc.channel_ready_future(ch).result(timeout=30)
            call = ch.stream_stream(
                BROADCAST,
                request_serializer=None,  # raw envelope bytes go out as they are
                response_deserializer=ab_pb2.BroadcastResponse.FromString,
            )
            out.put(("ready", spec.index))
            go.wait()
            order: list[bytes] = []

            def requests() -> Iterator[bytes]:
                t0 = float(start_at.value)
                delay = t0 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                k = 0
                sent = result.sent
                while spec.count is None or k < spec.count:
                    now = time.monotonic()
                    if spec.duration_s is not None and now - t0 >= spec.duration_s:
                        return
                    if spec.rate > 0:
                        due = t0 + k / spec.rate
                        if due > now:
                            time.sleep(due - now)
                    raw = make()
                    key = signature_of(raw)
                    order.append(key)
                    sent[key] = time.monotonic()
                    k += 1
                    yield raw

            answered = 0
            acked = result.acked
            for response in call(requests()):
                acked.append(time.monotonic())
                if response.status != common_pb2.SUCCESS:
                    result.failed[order[answered]] = response.status
                    result.first_failure = result.first_failure or response.info
                answered += 1
            result.unanswered = len(order) - answered
    except Exception as exc:  # reported to the parent, which fails the run
        result.error = f"{type(exc).__name__}: {exc}"
    out.put(("result", result))


# ------------------------------------------------------------------------- delivering


class _Deliverer:
    """Reads blocks from 1 on, stamping each envelope's signature with its arrival."""

    def __init__(self, address: str, tls_ca: Path, tls_dir: Path, signer: SigningIdentity) -> None:
        self.delivered: dict[bytes, float] = {}
        self.blocks = 0
        self.error = ""
        self._lock = threading.Lock()
        creds = tls.ClientTls.load(
            [tls_ca], tls_dir / "client.crt", tls_dir / "client.key"
        ).credentials()
        self._channel = grpc.secure_channel(address, creds, options=tls.channel_options())
        self._request = build_seek_envelope(CHANNEL, seek_info(1, None), signer)
        self._thread = threading.Thread(target=self._run, name="bench-deliver", daemon=True)
        self._call: Any = None

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        call = self._channel.stream_stream(
            "/orderer.AtomicBroadcast/Deliver",
            request_serializer=common_pb2.Envelope.SerializeToString,
            response_deserializer=ab_pb2.DeliverResponse.FromString,
        )
        try:
            self._call = call(iter([self._request]))
            for response in self._call:
                now = time.monotonic()
                if response.WhichOneof("Type") != "block":
                    self.error = f"Deliver ended with status {response.status}"
                    return
                stamped = {signature_of(e): now for e in response.block.data.data}
                with self._lock:
                    self.delivered.update(stamped)
                    self.blocks += 1
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                self.error = f"Deliver failed: {exc.code().name}"

    def snapshot(self) -> dict[bytes, float]:
        with self._lock:
            return dict(self.delivered)

    def count_of(self, keys: set[bytes]) -> int:
        with self._lock:
            return sum(1 for k in keys if k in self.delivered)

    def close(self) -> None:
        if self._call is not None:
            self._call.cancel()
        self._channel.close()
        self._thread.join(timeout=5)


# ---------------------------------------------------------------------- CPU sampling


class _Sampler:
    """Samples CPU and RSS of named processes every SAMPLE_INTERVAL_S."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = dict(pids)
        self.peak_rss: dict[str, int] = {name: 0 for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def add(self, name: str, pid: int) -> None:
        self.pids[name] = pid
        self.peak_rss.setdefault(name, 0)

    def cpu_now(self) -> dict[str, ProcSample]:
        out = {}
        for name, pid in list(self.pids.items()):
            sample = read_proc_sample(pid)
            if sample is not None:
                out[name] = sample
        return out

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            for name, sample in self.cpu_now().items():
                self.peak_rss[name] = max(self.peak_rss[name], sample.rss_bytes)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


# ------------------------------------------------------------------------------ run


def _prepare(root: Path, options: BenchOptions) -> tuple[NetworkLayout, list[NodeSpec]]:
    config = bench_network(_free_ports(9), options.batch_timeout_ms, options.max_message_count)
    layout = NetworkLayout(root)
    generate(config, layout.crypto)
    write_genesis_blocks(config, layout.crypto, layout.genesis)
    specs = [s for s in node_specs(config) if s.role is NodeRole.ORDERER]
    write_node_configs(config, layout, tuple(specs))
    return layout, specs


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
    workers: list[Any] = []
    deliverer: _Deliverer | None = None
    sampler: _Sampler | None = None
    try:
        progress(f"network folder {root}")
        layout, specs = _prepare(root, options)
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
        sampler = _Sampler({name: pid for name, pid in pids.items() if pid is not None})
        sampler.add("bench", os.getpid())
        sampler.start()

        config_orgs = root / "crypto"
        tls_ca = config_orgs / "orgs" / "orderer" / "tlsca" / "tlsca-cert.pem"
        user_msp = root / "crypto" / "orgs" / CLIENT_ORG / "users" / CLIENT_USER / "msp"
        signer = SigningIdentity.from_msp_dir(user_msp, CLIENT_MSPID)
        user_tls = user_msp.parent / "tls"
        deliverer = _Deliverer(follower.address, tls_ca, user_tls, signer)
        deliverer.start()

        ctx = mp.get_context("spawn")
        go = ctx.Event()
        start_at = ctx.Value("d", 0.0)
        out = ctx.Queue()
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
            proc = ctx.Process(target=_worker, args=(wspec, go, start_at, out), daemon=True)
            proc.start()
            workers.append(proc)
            if proc.pid is not None:
                sampler.add(f"client{i}", proc.pid)
        results: list[WorkerResult] = []
        ready = 0
        while ready < n:
            kind, value = _get(out, workers)
            if kind == "ready":
                ready += 1
            else:  # a result before "ready": the worker failed to connect
                results.append(value)
                ready += 1
        _raise_worker_errors(results)
        progress(
            f"leader {leader.name}; {n} clients → "
            f"{'leader' if options.target == 'leader' else 'all orderers'}; "
            f"delivering from {follower.name}"
        )
        cpu_start = sampler.cpu_now()
        busy_start = machine_busy_s()
        start_at.value = time.monotonic() + 0.2
        t_start = start_at.value
        go.set()
        while len(results) < n:
            kind, value = _get(out, workers)
            if kind == "result":
                results.append(value)
        _raise_worker_errors(results)
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
        for proc in workers:
            if proc.is_alive():
                proc.terminate()
        for proc in workers:
            proc.join(timeout=5)
        if deliverer is not None:
            deliverer.close()
        if sampler is not None:
            sampler.stop()
        if layout is not None and specs:
            stop_nodes(layout, specs)
        if options.keep_dir is None:
            shutil.rmtree(root, ignore_errors=True)


def _get(out: Any, workers: list[Any]) -> tuple[str, Any]:
    """The next message from the workers; BenchError if one died without a word."""
    while True:
        try:
            item: tuple[str, Any] = out.get(timeout=1.0)
            return item
        except queue.Empty:
            dead = [p for p in workers if not p.is_alive() and p.exitcode not in (0, None)]
            if dead:
                raise BenchError(f"load client exited with code {dead[0].exitcode}") from None


def _raise_worker_errors(results: list[WorkerResult]) -> None:
    for r in results:
        if r.error:
            raise BenchError(f"load client {r.index}: {r.error}")
