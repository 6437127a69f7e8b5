"""The moving parts of `scf bench orderer` (`client.bench.orderer`): signed envelopes,
the Broadcast load-client process, the Deliver reader that stamps each envelope's
arrival, and the CPU/RSS sampler of the node processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

import grpc

from client.bench.orderer_net import CHANNEL
from client.bench.procs import client_process_setup
from client.bench.stats import ProcSample, read_proc_sample
from common import tls
from common.crypto import compute_txid, new_nonce
from common.msp import SigningIdentity
from common.txutil import build_seek_envelope, seek_info
from protos.common import common_pb2
from protos.orderer import ab_pb2

__all__ = [
    "Deliverer",
    "PeakSampler",
    "WorkerResult",
    "WorkerSpec",
    "broadcast_client",
    "envelope_maker",
    "signature_of",
]

SAMPLE_INTERVAL_S = 0.25
BROADCAST = "/orderer.AtomicBroadcast/Broadcast"


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


def broadcast_client(spec: WorkerSpec, go: MpEvent, start_at: Any, out: Any) -> None:
    """One load client (runs in its own process). Reports `("ready", index)` once
    connected, then waits for `go`; sends, and finally puts its `WorkerResult`."""
    client_process_setup()
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


class Deliverer:
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


class PeakSampler:
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
