"""`protos.Deliver`: committed blocks and filtered blocks to signed readers
(Fabric's `core/peer/deliverevents.go` + `common/deliver`).

Each request is an Envelope with a `DELIVER_SEEK_INFO` payload holding an
`orderer.SeekInfo`. Per request, in order:

1. the envelope parses, its header type is DELIVER_SEEK_INFO       (else BAD_REQUEST)
2. the channel is joined by this peer                                  (else NOT_FOUND)
3. the header timestamp is within the time window of now                (else BAD_REQUEST)
4. when the client presented a TLS certificate and the header binds one
   (`tls_cert_hash`), they match                                        (else FORBIDDEN)
5. the creator's signature over the exact payload bytes satisfies the
   channel's Readers policy                                             (else FORBIDDEN)
6. start/stop resolve (oldest = 0, newest = height-1, specified = n,
   next_commit = height) and start <= stop                             (else BAD_REQUEST)

Then blocks `[start, stop]` stream back in order, and one final status: SUCCESS
when `stop` was sent; NOT_FOUND when `FAIL_IF_NOT_READY` and a block does not exist
yet. With `BLOCK_UNTIL_READY` the stream waits for commits (a `BlockNotifier`
registered as a commit listener wakes it); stop = max uint64 means forever. A
stream whose client went away ends quietly.

`Deliver` sends blocks exactly as stored (TRANSACTIONS_FILTER and COMMIT_HASH filled,
not re-serialised); `DeliverFiltered` sends `FilteredBlock`s (txid, header type,
validation code, and for endorser transactions the chaincode event without its
payload, as Fabric does); `DeliverWithPrivateData` answers each request with the
final status NOT_IMPLEMENTED (501): scfchain has no private data.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import grpc

from common import tls, txutil
from common.config.bundle import ChannelBundle
from common.config.channel import READERS
from common.crypto import sha256
from common.policies import SignedData
from common.seek import resolve_position
from peer.committer import BlockCommitted
from protos.common import common_pb2
from protos.orderer import ab_pb2
from protos.peer import chaincode_event_pb2, events_pb2

__all__ = [
    "MAX_BLOCK",
    "SERVICE",
    "BlockNotifier",
    "DeliverChannel",
    "DeliverRefused",
    "DeliverService",
    "filtered_block",
]

log = logging.getLogger("peer.deliver")

SERVICE = "protos.Deliver"
MAX_BLOCK = 2**64 - 1
"""SeekInfo's "forever": the largest block number."""

_WAIT_SLICE_S = 0.25
"""How often a waiting stream checks that its client is still there."""


class DeliverLedger(Protocol):
    """What Deliver reads of a channel's ledger (`peer.ledger.LevelLedger` has it)."""

    def height(self) -> int: ...

    def block_bytes(self, number: int) -> bytes | None: ...


class BlockNotifier:
    """A `CommitListener` that lets streams wait for the ledger to grow.

    Invariant: `wait_for_height(h)` returns True once `ledger.height() >= h`; it
    re-reads the ledger's height under the condition, so a commit between the
    caller's check and its wait is never missed.
    """

    def __init__(self, ledger: DeliverLedger) -> None:
        self._ledger = ledger
        self._cond = threading.Condition()

    def block_committed(self, event: BlockCommitted) -> None:
        with self._cond:
            self._cond.notify_all()

    def wait_for_height(self, height: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._ledger.height() >= height, timeout)

    def wake_all(self) -> None:
        """Wake every waiter (shutdown: they re-check whether to go on)."""
        with self._cond:
            self._cond.notify_all()


@dataclass(frozen=True)
class DeliverChannel:
    """One joined channel as Deliver sees it."""

    bundle: ChannelBundle
    ledger: DeliverLedger
    notifier: BlockNotifier


class DeliverRefused(Exception):
    """A request refused with `status` (the reason is logged, as Fabric does)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class _Seek:
    channel: DeliverChannel
    start: int
    stop: int
    fail_if_not_ready: bool


BlockEncoder = Callable[[bytes, str], bytes]
"""Stored block bytes and channel id → one serialised DeliverResponse."""


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        bits = n & 0x7F
        n >>= 7
        if n:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _full_block(block_bytes: bytes, channel_id: str) -> bytes:
    """`DeliverResponse{block}` (field 2) around the stored bytes, not re-encoded."""
    return b"\x12" + _varint(len(block_bytes)) + block_bytes


def _filtered(block_bytes: bytes, channel_id: str) -> bytes:
    block = common_pb2.Block.FromString(block_bytes)
    response = events_pb2.DeliverResponse(filtered_block=filtered_block(block, channel_id))
    return response.SerializeToString()


def _status(status: int) -> bytes:
    return events_pb2.DeliverResponse(status=status).SerializeToString()  # type: ignore[arg-type]


def filtered_block(block: common_pb2.Block, channel_id: str) -> events_pb2.FilteredBlock:
    """Fabric's FilteredBlock of a committed block: per transaction its txid, header
    type and validation code (from TRANSACTIONS_FILTER), and for endorser
    transactions the chaincode event with its payload removed. An envelope that does
    not parse is reported with its code and no txid."""
    codes = b""
    if len(block.metadata.metadata) > common_pb2.TRANSACTIONS_FILTER:
        codes = bytes(block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER])
    out = events_pb2.FilteredBlock(channel_id=channel_id, number=block.header.number)
    for index, entry in enumerate(block.data.data):
        code = codes[index] if index < len(codes) else 0
        tx = out.filtered_transactions.add(tx_validation_code=code)
        try:
            header = txutil.parse_envelope_header(entry)
        except txutil.EnvelopeError:
            continue
        tx.txid = header.channel_header.tx_id
        tx.type = header.channel_header.type  # type: ignore[assignment]
        if header.channel_header.type != common_pb2.ENDORSER_TRANSACTION:
            continue
        actions = tx.transaction_actions
        actions.SetInParent()
        try:
            parsed = txutil.parse_transaction(entry)
            event = chaincode_event_pb2.ChaincodeEvent.FromString(parsed.event_bytes)
        except Exception:
            continue
        if event.chaincode_id:
            actions.chaincode_actions.add().chaincode_event.CopyFrom(
                chaincode_event_pb2.ChaincodeEvent(
                    chaincode_id=event.chaincode_id, tx_id=event.tx_id, event_name=event.event_name
                )
            )
    return out


class DeliverService:
    """The `protos.Deliver` gRPC service over the node's joined channels.

    `channels` may be a live mapping owned by the node (it is only read). Requests
    arrive as raw bytes (the signature is checked over exactly what was sent) and
    responses leave pre-serialised (full blocks are sent as stored).
    """

    def __init__(
        self,
        channels: Mapping[str, DeliverChannel],
        *,
        time_window_s: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._channels = channels
        self._time_window_s = time_window_s
        self._clock = clock
        self._closed = threading.Event()

    def close(self) -> None:
        """End every waiting stream (at its next wake-up) before the server stops."""
        self._closed.set()
        for channel in list(self._channels.values()):
            channel.notifier.wake_all()

    # -- gRPC -----------------------------------------------------------------------------

    def deliver(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        return self.stream(requests, _full_block, context)

    def deliver_filtered(
        self, requests: Iterator[bytes], context: grpc.ServicerContext
    ) -> Iterator[bytes]:
        return self.stream(requests, _filtered, context)

    def deliver_with_private_data(
        self, requests: Iterator[bytes], context: grpc.ServicerContext
    ) -> Iterator[bytes]:
        for _ in requests:
            log.warning(
                "DeliverWithPrivateData from %s refused: this peer keeps no private data",
                context.peer(),
            )
            yield _status(common_pb2.NOT_IMPLEMENTED)

    def add_to_server(self, server: grpc.Server) -> None:
        def handler(
            method: Callable[[Iterator[bytes], grpc.ServicerContext], Iterator[bytes]],
        ) -> grpc.RpcMethodHandler[bytes, bytes]:
            return grpc.stream_stream_rpc_method_handler(
                method, request_deserializer=_identity, response_serializer=_identity
            )

        handlers = {
            "Deliver": handler(self.deliver),
            "DeliverFiltered": handler(self.deliver_filtered),
            "DeliverWithPrivateData": handler(self.deliver_with_private_data),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))

    # -- the protocol ----------------------------------------------------------------------

    def stream(
        self, requests: Iterable[bytes], encode: BlockEncoder, context: grpc.ServicerContext
    ) -> Iterator[bytes]:
        """Responses for every request of one stream, in order."""
        client_cert = tls.peer_certificate_der(context)
        for raw in requests:
            yield from self.handle(raw, encode, context.is_active, client_cert, context.peer())

    def handle(
        self,
        raw: bytes,
        encode: BlockEncoder,
        is_active: Callable[[], bool],
        client_cert_der: bytes | None = None,
        peer: str = "",
    ) -> Iterator[bytes]:
        """Blocks for one SeekInfo request, then its final status (see the module)."""
        try:
            seek = self._check(raw, client_cert_der)
        except DeliverRefused as refusal:
            log.warning("deliver request from %s refused: %s", peer or "?", refusal)
            yield _status(refusal.status)
            return
        channel, channel_id = seek.channel, seek.channel.bundle.channel_id
        number = seek.start
        while number <= seek.stop:
            if number >= channel.ledger.height():
                if seek.fail_if_not_ready:
                    log.info(
                        "deliver to %s: block %d of %s not ready (FAIL_IF_NOT_READY)",
                        peer or "?",
                        number,
                        channel_id,
                    )
                    yield _status(common_pb2.NOT_FOUND)
                    return
                while not channel.notifier.wait_for_height(number + 1, _WAIT_SLICE_S):
                    if self._closed.is_set():
                        yield _status(common_pb2.SERVICE_UNAVAILABLE)
                        return
                    if not is_active():
                        return
            data = channel.ledger.block_bytes(number)
            if data is None:  # below the height it cannot be missing; be safe
                yield _status(common_pb2.INTERNAL_SERVER_ERROR)
                return
            yield encode(data, channel_id)
            number += 1
        yield _status(common_pb2.SUCCESS)

    def _check(self, raw: bytes, client_cert_der: bytes | None) -> _Seek:
        try:
            env = txutil.parse_envelope_header(raw)
            if env.channel_header.type != common_pb2.DELIVER_SEEK_INFO:
                raise DeliverRefused(
                    common_pb2.BAD_REQUEST,
                    f"header type {env.channel_header.type} is not DELIVER_SEEK_INFO",
                )
            info = ab_pb2.SeekInfo.FromString(env.payload.data)
        except DeliverRefused:
            raise
        except Exception as exc:
            raise DeliverRefused(common_pb2.BAD_REQUEST, f"malformed request: {exc}") from None
        channel_id = env.channel_header.channel_id
        channel = self._channels.get(channel_id)
        if channel is None:
            raise DeliverRefused(common_pb2.NOT_FOUND, f"channel {channel_id!r} is not joined")
        skew = abs(env.channel_header.timestamp.seconds - self._clock())
        if skew > self._time_window_s:
            raise DeliverRefused(
                common_pb2.BAD_REQUEST,
                f"request timestamp is {skew:.0f} s away from now "
                f"(window {self._time_window_s:.0f} s)",
            )
        bound = bytes(env.channel_header.tls_cert_hash)
        if bound and client_cert_der is not None and bound != sha256(client_cert_der):
            raise DeliverRefused(
                common_pb2.FORBIDDEN, "tls_cert_hash does not match the client's TLS certificate"
            )
        creator = bytes(env.signature_header.creator)
        result = channel.bundle.evaluate(
            READERS, [SignedData(creator, env.payload_bytes, env.signature)]
        )
        if not result.satisfied:
            raise DeliverRefused(
                common_pb2.FORBIDDEN,
                f"channel {channel_id}: Readers policy not satisfied: {result.reason}",
            )
        height = channel.ledger.height()
        start = resolve_position(info.start, height, default=height)
        stop = resolve_position(info.stop, height, default=start)
        if start > stop:
            raise DeliverRefused(common_pb2.BAD_REQUEST, f"start {start} is after stop {stop}")
        return _Seek(channel, start, stop, info.behavior == ab_pb2.SeekInfo.FAIL_IF_NOT_READY)


def _identity(data: bytes) -> bytes:
    return data
