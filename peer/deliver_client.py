"""The peer's block intake: pull a channel's blocks from its orderers and commit them
(Fabric's `core/deliverservice` + `internal/pkg/peer/blocksprovider`).

One `DeliverClient` per joined channel runs one thread:

    loop:
        pick the next orderer (round robin over the channel's consenters, starting
        at a random one so peers spread over the orderers)
        open Deliver with a signed SeekInfo{start: ledger height, stop: forever,
        BLOCK_UNTIL_READY} over TLS (orderer TLS CAs verified, this peer's TLS
        certificate presented, its hash bound in the channel header)
        for each block: skip it if already committed, else `sink.commit(block)`
        on error (transport error, a status instead of a block, a refused block,
        no block for `stall_timeout_s`): log, back off, try the next orderer

Invariants:

* The ledger is the only cursor: every (re)connection asks from `sink.height()`,
  so a restart, a failover or a refused block never skips or repeats a block.
* A refused block (bad signature, wrong previous hash, out of order: the
  committer's `BlockRefused`) is never committed; the client does not crash, it
  drops the stream and asks another orderer.
* Backoff doubles from `reconnect_backoff_min_s` to `reconnect_backoff_max_s` while
  streams keep failing without delivering a block; a delivered block resets it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from common import tls
from common.crypto import sha256
from common.errors import ScfError
from common.txutil import Signer, build_seek_envelope, seek_info
from peer.config import DeliverOptions
from protos.common import common_pb2
from protos.orderer import ab_pb2, ab_pb2_grpc

__all__ = ["BlockSink", "DeliverClient", "StreamEnded"]

log = logging.getLogger("peer.deliver_client")


class BlockSink(Protocol):
    """Where pulled blocks go: the channel's committer and its ledger height.

    `commit` raises an `ScfError` (the committer's `BlockRefused`) for a block it
    refuses; it is called from the client's one thread only.
    """

    def height(self) -> int: ...

    def commit(self, block: common_pb2.Block) -> None: ...


class StreamEnded(Exception):
    """The orderer ended the stream (a status instead of the next block) or stalled."""


class DeliverClient:
    """Keeps one channel's ledger up to date with its orderers (see the module)."""

    def __init__(
        self,
        channel_id: str,
        endpoints: Callable[[], Sequence[str]],
        signer: Signer,
        sink: BlockSink,
        *,
        client_tls: tls.ClientTls | None,
        options: DeliverOptions | None = None,
        on_reconnect: Callable[[str], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._channel_id = channel_id
        self._endpoints = endpoints
        self._signer = signer
        self._sink = sink
        self._tls = client_tls
        self._options = options or DeliverOptions()
        self._on_reconnect = on_reconnect
        self._rng = rng or random.Random()
        self._tls_cert_hash = b""
        if client_tls is not None and client_tls.cert_pem is not None:
            cert = x509.load_pem_x509_certificate(client_tls.cert_pem)
            self._tls_cert_hash = sha256(cert.public_bytes(serialization.Encoding.DER))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._call: Any = None
        self._last_progress = time.monotonic()
        self._stalled = False
        self._delivered = 0
        self._connected_to = ""
        self._last_error = ""
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("deliver client already started")
        self._thread = threading.Thread(
            target=self._run, name=f"deliver-{self._channel_id}", daemon=True
        )
        self._watchdog = threading.Thread(
            target=self._watch, name=f"deliver-watch-{self._channel_id}", daemon=True
        )
        self._thread.start()
        self._watchdog.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel the stream and join the threads (a commit in progress finishes)."""
        self._stop.set()
        self._cancel()
        for thread in (self._thread, self._watchdog):
            if thread is not None:
                thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def status(self) -> tuple[str, str]:
        """(orderer streamed from now, or "", last error, or "")."""
        with self._lock:
            return self._connected_to, self._last_error

    # -- the loop -------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = self._options.reconnect_backoff_min_s
        index: int | None = None
        while not self._stop.is_set():
            endpoints = list(self._endpoints())
            if not endpoints:
                self._failed("", "the channel config names no orderer")
                self._stop.wait(self._options.reconnect_backoff_max_s)
                continue
            index = self._rng.randrange(len(endpoints)) if index is None else index + 1
            address = endpoints[index % len(endpoints)]
            delivered = 0
            try:
                delivered = self._stream(address)
                reason = "stream closed by the orderer"
            except ScfError as exc:  # a refused block
                reason = f"block refused: {exc}"
            except StreamEnded as exc:
                reason = str(exc)
            except grpc.RpcError as exc:
                code = exc.code() if hasattr(exc, "code") else None
                details = exc.details() if hasattr(exc, "details") else str(exc)
                reason = f"{getattr(code, 'name', code)}: {details}"
            except Exception as exc:  # a bug must not stop block intake for good
                log.exception("channel %s: deliver from %s failed", self._channel_id, address)
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                with self._lock:
                    self._call = None
                    self._connected_to = ""
                delivered = max(delivered, self._delivered)
            if self._stop.is_set():
                return
            self._failed(address, reason)
            backoff = (
                self._options.reconnect_backoff_min_s
                if delivered
                else min(backoff * 2, self._options.reconnect_backoff_max_s)
            )
            self._stop.wait(backoff)

    def _failed(self, address: str, reason: str) -> None:
        with self._lock:
            self._last_error = f"{address}: {reason}" if address else reason
        log.warning(
            "channel %s: deliver from %s ended (%s); trying the next orderer",
            self._channel_id,
            address or "?",
            reason,
        )
        if self._on_reconnect is not None:
            self._on_reconnect(reason)

    def _stream(self, address: str) -> int:
        """Stream and commit blocks from `address` until something goes wrong; returns
        the number of blocks committed (or raises, having set `_delivered`)."""
        self._delivered = 0
        options = tls.channel_options()
        channel = (
            grpc.secure_channel(address, self._tls.credentials(), options=options)
            if self._tls is not None
            else grpc.insecure_channel(address, options=options)
        )
        with channel:
            stub = ab_pb2_grpc.AtomicBroadcastStub(channel)  # type: ignore[no-untyped-call]
            start = self._sink.height()
            request = build_seek_envelope(
                self._channel_id,
                seek_info(start, None, block_until_ready=True),
                self._signer,
                tls_cert_hash=self._tls_cert_hash,
            )
            call = stub.Deliver(iter([request]))
            with self._lock:
                if self._stop.is_set():
                    return 0
                self._call = call
                self._stalled = False
                self._last_progress = time.monotonic()
                self._connected_to = address
            log.info("channel %s: pulling blocks from %s at %d", self._channel_id, address, start)
            response: ab_pb2.DeliverResponse
            try:
                for response in call:
                    if response.WhichOneof("Type") != "block":
                        raise StreamEnded(
                            f"orderer answered status {common_pb2.Status.Name(response.status)}"
                        )
                    block = response.block
                    with self._lock:
                        self._last_progress = time.monotonic()
                    if block.header.number < self._sink.height():
                        continue  # already committed (e.g. re-sent after a reconnect)
                    self._sink.commit(block)
                    self._delivered += 1
            except grpc.RpcError:
                if self._stalled:
                    raise StreamEnded(
                        f"no block for {self._options.stall_timeout_s:.0f} s"
                    ) from None
                raise
        return self._delivered

    def _cancel(self) -> None:
        with self._lock:
            call = self._call
        if call is not None:
            call.cancel()

    def _watch(self) -> None:
        """Cancel a stream that delivered nothing for `stall_timeout_s` (an orderer
        cut off from its cluster keeps the stream open but sends nothing)."""
        while not self._stop.wait(min(1.0, self._options.stall_timeout_s / 4)):
            with self._lock:
                call = self._call
                idle = time.monotonic() - self._last_progress
                stalled = call is not None and idle > self._options.stall_timeout_s
                if stalled:
                    self._stalled = True
            if stalled:
                call.cancel()
