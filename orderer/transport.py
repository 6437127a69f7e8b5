"""`GrpcClusterTransport`: the client side of the cluster port (`ClusterTransport`).

Shape (Fabric's `comm` cluster, simplified):

* One `_Peer` per remote orderer *address*, shared by every channel that has a
  consenter there, created on first use. It owns one gRPC channel over mutual TLS and
  one long-lived `Cluster.Step` stream on it.
* `send()` only appends `(channel, message)` to the destination's bounded queue and
  returns. The stream's request iterator (run by gRPC's sending thread) drains the
  whole queue at each turn and turns it into one `StepRequest` per channel —
  batching of appends comes for free whenever the sender outpaces the network.
  Order is kept per (destination, channel): what one Raft group sends to one node
  arrives in the order it was sent, unless dropped.
* A destination that cannot be reached, a stream that breaks (or is refused), or a
  full queue: the messages are dropped and `ClusterHandler.on_unreachable(channel,
  to)` is called — for a broken stream, also for every (channel, to) that rode on it,
  since what was in flight may be lost. Reports come from the transport's own
  reporter thread, never from inside `send()`, so a driver may call `send()` while
  holding its own lock. While a destination is backing off (50 ms doubling to 2 s),
  messages to it are dropped at once (Raft retransmits); when the backoff ends, the
  next `send()` reconnects.
* `forward()` / `forward_async()` hand an envelope to the leader over one long-lived
  `Cluster.SubmitStream` per destination, on the same gRPC channel
  (`orderer.forward.Forwarder`).

Routes (channel, consenter id) → address come from `update_consenters`. Consenter
ids are per channel, as in Fabric; the server maps them back by the channel name in
each request and the client's TLS certificate.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import grpc

from common import tls
from common.config.channel import Consenter
from orderer.cluster import ClusterHandler, ForwardResult
from orderer.forward import Forwarder, ForwardFuture
from orderer.raft import Message, NodeId
from orderer.raft_codec import step_request
from protos.common import common_pb2
from protos.scf import cluster_pb2, cluster_pb2_grpc

__all__ = ["GrpcClusterTransport", "TransportOptions"]

log = logging.getLogger("orderer.cluster")

_MESSAGE_OVERHEAD = 48  # rough bytes per message beyond entry and snapshot data


@dataclass(frozen=True)
class TransportOptions:
    """Tuning knobs; the defaults suit a LAN cluster.

    `queue_size` is in messages per destination; `max_batch_bytes` bounds one turn of
    the sender (so one StepRequest stays well under `max_message_bytes`).
    """

    queue_size: int = 10_000
    max_batch_bytes: int = 4 * 1024 * 1024
    connect_timeout_s: float = 2.0
    backoff_initial_s: float = 0.05
    backoff_max_s: float = 2.0
    max_message_bytes: int = tls.DEFAULT_MAX_MESSAGE_BYTES
    server_name_override: str | None = None
    forward_batch_envelopes: int = 1000


def _size(message: Message) -> int:
    size = _MESSAGE_OVERHEAD + sum(len(e.data) + 24 for e in message.entries)
    if message.snapshot is not None:
        size += len(message.snapshot.data)
    return size


_IDLE, _CONNECTING, _UP, _DOWN = "idle", "connecting", "up", "down"

Report = Callable[[Iterable[tuple[str, NodeId]]], None]


class _Peer:
    """The connection to one remote orderer: a queue, a stream, reconnect logic.

    All state is guarded by `_cond`. `_generation` names the current stream; the
    request iterator and the done-callback of an older stream see a different
    generation and stand down.
    """

    def __init__(
        self,
        address: str,
        credentials: grpc.ChannelCredentials,
        options: TransportOptions,
        report: Report,
        clock: Callable[[], float],
    ) -> None:
        self.address = address
        self._credentials = credentials
        self._options = options
        self._report = report
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: collections.deque[tuple[str, Message]] = collections.deque()
        self._state = _IDLE
        self._closed = False
        self._generation = 0
        self._backoff_s = options.backoff_initial_s
        self._backoff_until = 0.0
        self._up_since = 0.0
        self._channel: grpc.Channel | None = None
        self._stub: cluster_pb2_grpc.ClusterStub | None = None
        self._call: grpc.Future | None = None  # type: ignore[type-arg]
        self._ready: grpc.Future | None = None  # type: ignore[type-arg]
        self._to_close: list[grpc.Channel] = []
        self._last_failure = ""
        self._stream_pairs: set[tuple[str, NodeId]] = set()  # sent on the current stream
        self.forwarder = Forwarder(
            address, self.stub, options.max_batch_bytes, options.forward_batch_envelopes
        )
        self._thread = threading.Thread(
            target=self._run, name=f"cluster-peer-{address}", daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------------ callers

    def enqueue(self, channel: str, messages: Sequence[Message]) -> None:
        dropped: list[Message] = []
        with self._cond:
            if self._closed or self._state == _DOWN:
                dropped = list(messages)
            else:
                room = self._options.queue_size - len(self._queue)
                self._queue.extend((channel, m) for m in messages[: max(room, 0)])
                dropped = list(messages[max(room, 0) :])
                self._cond.notify_all()
        if dropped:
            self._report({(channel, m.to) for m in dropped})

    def stub(self) -> cluster_pb2_grpc.ClusterStub:
        """The stub on the current gRPC channel (created if there is none)."""
        with self._cond:
            if self._closed:
                raise RuntimeError(f"connection to {self.address} is closed")
            return self._ensure_channel()[1]

    def close(self) -> None:
        self.forwarder.close()
        with self._cond:
            self._closed = True
            self._generation += 1
            call, self._call = self._call, None
            ready, self._ready = self._ready, None
            self._cond.notify_all()
        if ready is not None:  # do not wait out a connect attempt
            ready.cancel()
        if call is not None:
            call.cancel()
        self._thread.join()
        with self._cond:
            channels, self._to_close = self._to_close, []
            if self._channel is not None:
                channels.append(self._channel)
                self._channel = self._stub = None
        for channel in channels:
            channel.close()

    # ------------------------------------------------------------------ internals

    def _ensure_channel(self) -> tuple[grpc.Channel, cluster_pb2_grpc.ClusterStub]:
        if self._channel is None or self._stub is None:
            options = tls.channel_options(
                self._options.max_message_bytes,
                server_name_override=self._options.server_name_override,
                max_reconnect_backoff_ms=int(self._options.backoff_max_s * 1000),
            )
            self._channel = grpc.secure_channel(self.address, self._credentials, options)
            self._stub = cluster_pb2_grpc.ClusterStub(self._channel)  # type: ignore[no-untyped-call]
        return self._channel, self._stub

    def _fail_locked(self, reason: str) -> None:
        """Enter backoff: drop the queue and the gRPC channel (closed by the thread)."""
        now = self._clock()
        if self._state == _UP and now - self._up_since > self._options.backoff_max_s:
            self._backoff_s = self._options.backoff_initial_s  # it was healthy for a while
        self._backoff_until = now + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, self._options.backoff_max_s)
        self._state = _DOWN
        self._generation += 1
        self._call = None
        if self._channel is not None:
            self._to_close.append(self._channel)
            self._channel = self._stub = None
        # Whatever rode on the broken stream may be lost too: report its destinations.
        dropped = {(channel, m.to) for channel, m in self._queue} | self._stream_pairs
        self._queue.clear()
        self._stream_pairs = set()
        if reason != self._last_failure:
            self._last_failure = reason
            log.warning("cluster: %s unreachable: %s", self.address, reason)
        self._cond.notify_all()
        if dropped:
            self._report(dropped)

    def _run(self) -> None:
        while True:
            channel: grpc.Channel | None = None
            stub: cluster_pb2_grpc.ClusterStub | None = None
            with self._cond:
                while True:
                    if self._closed:
                        return
                    if self._to_close:
                        break
                    if self._state == _DOWN and self._clock() >= self._backoff_until:
                        self._state = _IDLE
                    if self._state == _IDLE and self._queue:
                        break
                    wait = None
                    if self._state == _DOWN:
                        wait = max(self._backoff_until - self._clock(), 0.0)
                    self._cond.wait(wait)
                to_close, self._to_close = self._to_close, []
                connect = self._state == _IDLE and bool(self._queue)
                if connect:
                    self._state = _CONNECTING
                    channel, stub = self._ensure_channel()
            for old in to_close:
                old.close()
            if channel is not None and stub is not None:
                self._connect(channel, stub)

    def _connect(self, channel: grpc.Channel, stub: cluster_pb2_grpc.ClusterStub) -> None:
        ready = grpc.channel_ready_future(channel)
        with self._cond:
            self._ready = ready
        try:
            ready.result(timeout=self._options.connect_timeout_s)
        except (grpc.FutureTimeoutError, grpc.FutureCancelledError):
            with self._cond:
                # Whoever takes `_ready` cancels it: gRPC's future fails on a second cancel.
                mine = self._ready is ready
                self._ready = None
                if self._state == _CONNECTING and not self._closed:
                    self._fail_locked("cannot connect (TLS handshake or TCP failed)")
            if mine:
                ready.cancel()
            return
        with self._cond:
            self._ready = None
            if self._state != _CONNECTING:
                return
            self._generation += 1
            generation = self._generation
            self._state = _UP
            self._up_since = self._clock()
            if self._last_failure:
                log.info("cluster: %s reachable again", self.address)
            self._last_failure = ""
        call = stub.Step(self._requests(generation))
        with self._cond:
            current = generation == self._generation
            if current:
                self._call = call
        if not current:  # closed meanwhile
            call.cancel()
            return
        call.add_done_callback(lambda done: self._stream_done(generation, done))

    def _stream_done(self, generation: int, call: grpc.Future) -> None:  # type: ignore[type-arg]
        with self._cond:
            if generation != self._generation or self._closed:
                return
            code = call.code() if isinstance(call, grpc.Call) else None
            details = call.details() if isinstance(call, grpc.Call) else ""
            name = code.name if code is not None else "ended"
            self._fail_locked(f"stream ended: {name} {details or ''}".rstrip())

    def _requests(self, generation: int) -> Iterator[cluster_pb2.StepRequest]:
        """Runs on gRPC's sending thread: each turn takes everything queued (up to
        `max_batch_bytes`) and yields one request per channel, order kept."""
        while True:
            with self._cond:
                while not self._queue and generation == self._generation:
                    self._cond.wait()
                if generation != self._generation:
                    return
                batch: dict[str, list[Message]] = {}
                budget = self._options.max_batch_bytes
                while self._queue and budget > 0:
                    channel, message = self._queue.popleft()
                    batch.setdefault(channel, []).append(message)
                    self._stream_pairs.add((channel, message.to))
                    budget -= _size(message)
            for channel, messages in batch.items():
                yield step_request(channel, messages)


class GrpcClusterTransport:
    """`ClusterTransport` over gRPC with mutual TLS; see the module docstring.

    `client_tls` carries this node's TLS certificate and key (presented to the other
    orderers) and the orderer orgs' TLS root CAs (to verify them). The `handler`
    receives `on_unreachable` reports; it may be given later with `set_handler`
    (reports before that are discarded). Call `close()` when done.
    """

    def __init__(
        self,
        client_tls: tls.ClientTls,
        handler: ClusterHandler | None = None,
        *,
        options: TransportOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if client_tls.cert_pem is None:
            raise tls.TlsMaterialError("the cluster transport needs this node's TLS cert and key")
        self._credentials = client_tls.credentials()
        self._options = options or TransportOptions()
        self._clock = clock
        self._handler = handler
        self._lock = threading.Lock()
        self._routes: dict[str, dict[NodeId, str]] = {}
        self._self_ids: dict[str, NodeId] = {}
        self._peers: dict[str, _Peer] = {}
        self._closed = False
        self._report_cond = threading.Condition()
        self._unreachable: set[tuple[str, NodeId]] = set()
        self._reporter = threading.Thread(target=self._report_loop, name="cluster-reporter")
        self._reporter.daemon = True
        self._reporter.start()

    def set_handler(self, handler: ClusterHandler) -> None:
        self._handler = handler

    def update_consenters(
        self, channel: str, consenters: Sequence[Consenter], *, self_id: int | None = None
    ) -> None:
        """Set the channel's consenters (from its latest config). `self_id` is this
        node's id in the channel (sent with `forward` for org-CA authentication).
        Connections to addresses no channel uses any more are closed."""
        with self._lock:
            self._routes[channel] = {NodeId(c.id): c.cluster_address for c in consenters}
            if self_id is not None:
                self._self_ids[channel] = NodeId(self_id)
            unused = self._unused_peers_locked()
        for peer in unused:
            peer.close()

    def remove_channel(self, channel: str) -> None:
        with self._lock:
            self._routes.pop(channel, None)
            self._self_ids.pop(channel, None)
            unused = self._unused_peers_locked()
        for peer in unused:
            peer.close()

    def _unused_peers_locked(self) -> list[_Peer]:
        used = {address for routes in self._routes.values() for address in routes.values()}
        gone = [address for address in self._peers if address not in used]
        return [self._peers.pop(address) for address in gone]

    def _peer(self, channel: str, consenter: NodeId) -> _Peer | None:
        with self._lock:
            if self._closed:
                return None
            address = self._routes.get(channel, {}).get(consenter)
            if address is None:
                return None
            peer = self._peers.get(address)
            if peer is None:
                peer = _Peer(address, self._credentials, self._options, self._report, self._clock)
                self._peers[address] = peer
            return peer

    def send(self, channel: str, messages: Sequence[Message]) -> None:
        """Queue each message for its `to` consenter of `channel`; never blocks on the
        network. Unknown destinations, a full queue or a destination in backoff: the
        messages are dropped and `on_unreachable` is reported (asynchronously)."""
        by_destination: dict[NodeId, list[Message]] = {}
        for message in messages:
            by_destination.setdefault(message.to, []).append(message)
        for destination, batch in by_destination.items():
            peer = self._peer(channel, destination)
            if peer is None:
                self._report([(channel, destination)])
            else:
                peer.enqueue(channel, batch)

    def forward(
        self, channel: str, leader: NodeId, envelope: bytes, timeout_s: float
    ) -> ForwardResult:
        """Hand `envelope` to `leader`: its answer, or SERVICE_UNAVAILABLE with the reason
        if it cannot be reached or does not answer within `timeout_s`."""
        return self.forward_async(channel, leader, envelope, timeout_s).result()

    def forward_async(
        self, channel: str, leader: NodeId, envelope: bytes, timeout_s: float
    ) -> ForwardFuture:
        """Queue `envelope` on the forwarding stream to `leader` and return at once;
        envelopes forwarded to one leader are sent in the order of these calls."""
        peer = self._peer(channel, leader)
        if peer is None:
            return ForwardFuture.done(
                ForwardResult(
                    common_pb2.SERVICE_UNAVAILABLE, f"consenter {leader} of {channel} is unknown"
                )
            )
        future = ForwardFuture(time.monotonic() + timeout_s)
        peer.forwarder.submit(channel, self._self_ids.get(channel, 0), envelope, future)
        return future

    def close(self) -> None:
        """Cancel every stream, close every connection, stop the threads."""
        with self._lock:
            self._closed = True
            peers = list(self._peers.values())
            self._peers.clear()
        for peer in peers:
            peer.close()
        with self._report_cond:
            self._report_cond.notify_all()
        self._reporter.join()

    def _report(self, items: Iterable[tuple[str, NodeId]]) -> None:
        with self._report_cond:
            self._unreachable.update(items)
            self._report_cond.notify_all()

    def _report_loop(self) -> None:
        while True:
            with self._report_cond:
                while not self._unreachable and not self._closed:
                    self._report_cond.wait()
                if self._closed:
                    return
                items, self._unreachable = self._unreachable, set()
            handler = self._handler
            if handler is None:
                continue
            for channel, consenter in sorted(items):
                try:
                    handler.on_unreachable(channel, consenter)
                except Exception:
                    log.exception("cluster: on_unreachable(%s, %s) failed", channel, consenter)
