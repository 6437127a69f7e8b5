"""Server-side resource limits shared by every gRPC server of peer and orderer.

One client must not be able to exhaust a node. The sync gRPC server runs every call
on a worker thread of a fixed pool, and a streaming call (Deliver, Broadcast, Step,
ChaincodeEvents) holds its thread for the stream's life — so without limits a few
hundred idle streams starve every honest caller. `GrpcLimits` bounds that:

* **Concurrency** (`ConcurrencyLimiter`, a server interceptor). Calls are of two
  kinds: *unary* (one request, one response) and *streaming* (either side streams).
  For each kind there is a node-wide limit and a per-connection limit (a connection
  is the client's transport address, `context.peer()`, e.g. `ipv4:10.0.0.7:51234`).
  A call beyond a limit ends at once with `RESOURCE_EXHAUSTED`, before the service
  sees it; a slot is freed when the handler returns (for a stream: when its response
  iterator is finished or closed). The thread pool holds `max_rpcs + max_streams +
  spare_workers` threads, so admitted unary calls always find a thread even with
  every stream slot taken, and refusals (which run on a thread too) never queue
  behind them; gRPC's own `maximum_concurrent_rpcs` is set to the pool size as a
  backstop (nothing ever waits in the executor's queue).
* **Message sizes**: receive and send limits on every server (a larger message ends
  the call with `RESOURCE_EXHAUSTED` inside gRPC, before any of our code runs).
* **Timeouts**: the server pings each connection every `keepalive_time_ms` and drops
  it if the ping is not answered within `keepalive_timeout_ms` — a client that is
  gone (crashed host, cut network) is noticed and its streams end (their handlers
  poll `context.is_active()`); connections with no call for `max_connection_idle_ms`
  are closed (clients reconnect transparently).
* **Server-side deadline for unary calls**: a unary handler sees a context whose
  `is_active()` turns False and whose `time_remaining()` reaches 0 after
  `max_unary_wait_s` even when the client set no deadline, so a wait such as
  Gateway CommitStatus for a txid that never commits ends (DEADLINE_EXCEEDED)
  instead of pinning a thread forever. Streams have no such cap: a peer's Deliver
  stream to an orderer legitimately waits for the next block for hours.

The defaults suit a consortium of tens of organisations (a node talks to a few
dozen peers/orderers and SDK gateways; the gateway pipelines its endorsements and
broadcasts over one connection per node, at most 16 in parallel).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any, Final

import grpc

__all__ = [
    "CLUSTER_LIMITS",
    "DEFAULT_HTTP_LIMITS",
    "DEFAULT_LIMITS",
    "MAX_BROADCAST_BATCH",
    "ConcurrencyLimiter",
    "GrpcLimits",
    "HttpLimits",
    "limited_server",
]

log = logging.getLogger("common.grpclimits")

MiB: Final = 1024 * 1024


@dataclass(frozen=True)
class GrpcLimits:
    """Limits of one gRPC server (see the module docstring for what each bounds)."""

    max_rpcs: int = 128
    """Unary calls in flight on the whole server."""
    max_rpcs_per_connection: int = 64
    max_streams: int = 128
    """Streaming calls open on the whole server."""
    max_streams_per_connection: int = 32
    spare_workers: int = 16
    """Threads beyond the two limits: they run refusals."""
    max_receive_message_bytes: int = 16 * MiB
    """Above the channels' default `absolute_max_bytes` (10 MB): no honest envelope,
    proposal or request is larger."""
    max_send_message_bytes: int = 100 * MiB
    """Fabric's limit: a block rides in one Deliver message."""
    max_unary_wait_s: float = 300.0
    keepalive_time_ms: int = 30_000
    keepalive_timeout_ms: int = 10_000
    max_connection_idle_ms: int = 15 * 60_000

    def __post_init__(self) -> None:
        counts = (
            self.max_rpcs,
            self.max_rpcs_per_connection,
            self.max_streams,
            self.max_streams_per_connection,
        )
        if min(counts) < 1 or self.spare_workers < 1:
            raise ValueError(f"concurrency limits must be >= 1: {self}")
        if min(self.max_receive_message_bytes, self.max_send_message_bytes) < 1024:
            raise ValueError(f"message limits must be >= 1 KiB: {self}")
        if self.max_unary_wait_s <= 0:
            raise ValueError(f"max_unary_wait_s must be > 0: {self}")

    @property
    def workers(self) -> int:
        """The size of the server's thread pool."""
        return self.max_rpcs + self.max_streams + self.spare_workers

    def options(self) -> list[tuple[str, int | str]]:
        """Options for `grpc.server`. Keepalive tolerates the clients' pings (a server
        stricter than its clients sends GOAWAY "too_many_pings" to healthy ones)."""
        return [
            ("grpc.max_receive_message_length", self.max_receive_message_bytes),
            ("grpc.max_send_message_length", self.max_send_message_bytes),
            ("grpc.keepalive_time_ms", self.keepalive_time_ms),
            ("grpc.keepalive_timeout_ms", self.keepalive_timeout_ms),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
            ("grpc.http2.max_ping_strikes", 0),
            ("grpc.max_connection_idle_ms", self.max_connection_idle_ms),
        ]


DEFAULT_LIMITS: Final = GrpcLimits()
"""Public ports: the peer's (Endorser, Deliver, Gateway, Regulator) and the
orderer's AtomicBroadcast."""

CLUSTER_LIMITS: Final = GrpcLimits(
    max_rpcs=64,
    max_rpcs_per_connection=32,
    max_streams=64,
    max_streams_per_connection=16,
    max_receive_message_bytes=100 * MiB,
)
"""The orderers' cluster port: only consenters (mutual TLS) connect; Raft messages
carry whole blocks, so it receives Fabric's 100 MiB."""

MAX_BROADCAST_BATCH: Final = 1024
"""Envelopes one `scf.BroadcastBatch/BroadcastEnvelopes` call may carry: the orderer
refuses more with INVALID_ARGUMENT, and the gateway's client cuts its batches here.
A batch holds one server thread while its envelopes are admitted one by one (about
0.1 ms each), like a Broadcast stream; its bytes are bounded by
`max_receive_message_bytes` as any message."""


@dataclass(frozen=True)
class HttpLimits:
    """Limits of the operations HTTP server (`common.operations`)."""

    max_connections: int = 64
    """Connections served at once; more are answered 503 and closed."""
    max_request_bytes: int = 64 * 1024
    """Request line plus headers (the server reads no request bodies)."""
    timeout_s: float = 10.0
    """A connection idle (or trickling) this long is closed."""


DEFAULT_HTTP_LIMITS: Final = HttpLimits()


# -------------------------------------------------------------------- concurrency


_UNARY: Final = "unary"
_STREAM: Final = "stream"


class ConcurrencyLimiter(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Admits calls within `limits` and refuses the rest with RESOURCE_EXHAUSTED.

    Thread-safe. `in_flight()` and `refused` are for tests and metrics."""

    def __init__(self, limits: GrpcLimits, name: str = "grpc") -> None:
        self._limits = limits
        self._name = name
        self._lock = threading.Lock()
        self._total = {_UNARY: 0, _STREAM: 0}
        self._per_connection: dict[tuple[str, str], int] = {}
        self.refused = 0
        self._last_log = 0.0

    def in_flight(self) -> dict[str, int]:
        with self._lock:
            return dict(self._total)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        return self._wrap(handler, str(handler_call_details.method))

    # -- admission ----------------------------------------------------------------------

    def _admit(self, kind: str, peer: str, method: str) -> str | None:
        """Take a slot of `kind` for `peer`; None, or why it was refused."""
        limits = self._limits
        total, per = (
            (limits.max_rpcs, limits.max_rpcs_per_connection)
            if kind == _UNARY
            else (limits.max_streams, limits.max_streams_per_connection)
        )
        key = (kind, peer)
        with self._lock:
            if self._total[kind] >= total:
                reason = f"{self._name}: {total} {kind} calls in flight on this node"
            elif self._per_connection.get(key, 0) >= per:
                reason = f"{self._name}: {per} {kind} calls in flight on this connection"
            else:
                self._total[kind] += 1
                self._per_connection[key] = self._per_connection.get(key, 0) + 1
                return None
            self.refused += 1
            now = time.monotonic()
            loud = now - self._last_log >= 1.0
            if loud:
                self._last_log = now
        if loud:  # at most one line a second, however hard a client pushes
            log.warning("refused %s from %s: %s (limit)", method, peer, reason)
        return reason

    def _release(self, kind: str, peer: str) -> None:
        key = (kind, peer)
        with self._lock:
            self._total[kind] -= 1
            left = self._per_connection[key] - 1
            if left:
                self._per_connection[key] = left
            else:
                del self._per_connection[key]

    def _enter(self, kind: str, context: grpc.ServicerContext, method: str) -> str:
        peer = str(context.peer())
        reason = self._admit(kind, peer, method)
        if reason is not None:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"RESOURCE_EXHAUSTED: {reason}")
        return peer

    # -- wrapping -----------------------------------------------------------------------

    def _wrap(
        self, handler: grpc.RpcMethodHandler[Any, Any], method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        kind = _STREAM if handler.request_streaming or handler.response_streaming else _UNARY
        wait_s = self._limits.max_unary_wait_s

        def unary_response(inner: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
            def call(request: Any, context: grpc.ServicerContext) -> Any:
                peer = self._enter(kind, context, method)
                try:
                    if kind == _UNARY:
                        return inner(request, _DeadlineContext(context, wait_s))
                    return inner(request, context)
                finally:
                    self._release(kind, peer)

            return call

        def stream_response(
            inner: Callable[[Any, Any], Iterator[Any]],
        ) -> Callable[[Any, Any], Iterator[Any]]:
            def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                peer = self._enter(kind, context, method)
                try:
                    yield from inner(request, context)
                finally:
                    self._release(kind, peer)

            return call

        serde = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(unary_response(handler.unary_unary), **serde)
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                unary_response(handler.stream_unary), **serde
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                stream_response(handler.unary_stream), **serde
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                stream_response(handler.stream_stream), **serde
            )
        return handler


class _DeadlineContext:
    """A servicer context whose call ends, as the handler sees it, `wait_s` after it
    began (or at the client's deadline, if sooner). Everything else is delegated."""

    def __init__(self, inner: grpc.ServicerContext, wait_s: float) -> None:
        self._inner = inner
        self._deadline = time.monotonic() + wait_s

    def is_active(self) -> bool:
        return bool(self._inner.is_active()) and time.monotonic() < self._deadline

    def time_remaining(self) -> float | None:
        ours = max(self._deadline - time.monotonic(), 0.0)
        theirs = self._inner.time_remaining()
        return ours if theirs is None else min(ours, float(theirs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def limited_server(
    limits: GrpcLimits = DEFAULT_LIMITS, *, name: str = "grpc"
) -> tuple[grpc.Server, futures.ThreadPoolExecutor, ConcurrencyLimiter]:
    """A `grpc.Server` with `limits` applied, its thread pool (the caller shuts it down
    after stopping the server) and its limiter. `name` prefixes the threads."""
    executor = futures.ThreadPoolExecutor(limits.workers, thread_name_prefix=name)
    limiter = ConcurrencyLimiter(limits, name)
    server = grpc.server(
        executor,
        interceptors=[limiter],
        options=limits.options(),
        maximum_concurrent_rpcs=limits.workers,
    )
    return server, executor, limiter
