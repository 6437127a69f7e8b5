"""`orderer.AtomicBroadcast/Deliver`: stream committed blocks to a signed reader.

Each request envelope carries a `DELIVER_SEEK_INFO` payload whose creator's
signature (over the exact payload bytes) must satisfy the channel's Readers
policy (else FORBIDDEN). Blocks `[start, stop]` stream back, each exactly as
stored, then one final status, as Fabric does: SUCCESS when `stop` was reached;
NOT_FOUND when `FAIL_IF_NOT_READY` and a requested block does not exist yet;
BAD_REQUEST for a malformed request or `start > stop`. With `BLOCK_UNTIL_READY`
the stream waits for blocks as they are appended (stop = max uint64: forever).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from common.config.bundle import ChannelBundle
from common.policies import SignedData
from common.seek import resolve_position
from orderer.broadcast import EnvelopeError, ParsedEnvelope, parse_envelope
from orderer.metrics import OrdererMetrics
from protos.common import common_pb2
from protos.orderer import ab_pb2

log = logging.getLogger("orderer.deliver")

_WAIT_SLICE_S = 0.25
"""How often a waiting stream checks that its client is still there."""


class DeliverChannel(Protocol):
    @property
    def bundle(self) -> ChannelBundle: ...

    def height(self) -> int: ...

    def block_bytes(self, number: int) -> bytes | None: ...

    def wait_for_height(self, height: int, timeout_s: float) -> bool: ...


class DeliverChannels(Protocol):
    def deliver_channel(self, channel_id: str) -> DeliverChannel | None: ...


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


def block_response(block_bytes: bytes) -> bytes:
    """`DeliverResponse{block}` built around the stored bytes (no re-serialising)."""
    return b"\x12" + _varint(len(block_bytes)) + block_bytes


def status_response(status: int) -> bytes:
    return ab_pb2.DeliverResponse(status=status).SerializeToString()  # type: ignore[arg-type]


class DeliverHandler:
    def __init__(self, channels: DeliverChannels, metrics: OrdererMetrics | None = None) -> None:
        self._channels = channels
        self._metrics = metrics

    def stream(
        self, requests: Iterable[bytes], is_active: Callable[[], bool], peer: str = ""
    ) -> Iterator[bytes]:
        for raw in requests:
            yield from self.handle(raw, is_active, peer)

    def handle(self, raw: bytes, is_active: Callable[[], bool], peer: str = "") -> Iterator[bytes]:
        """Responses for one SeekInfo request: blocks, then a status."""
        try:
            env = parse_envelope(raw)
            if env.channel_header.type != common_pb2.DELIVER_SEEK_INFO:
                raise EnvelopeError(
                    f"channel header type {env.channel_header.type} is not DELIVER_SEEK_INFO"
                )
            seek = ab_pb2.SeekInfo.FromString(common_pb2.Payload.FromString(env.payload).data)
        except Exception as exc:
            yield self._refuse("", "bad_request", common_pb2.BAD_REQUEST, str(exc), peer)
            return
        channel_id = env.channel_header.channel_id
        channel = self._channels.deliver_channel(channel_id)
        if channel is None:
            # Not labelled with the client's channel name: the metric's children would
            # grow with every name a client makes up.
            yield self._refuse(
                "",
                "not_found",
                common_pb2.NOT_FOUND,
                f"channel {channel_id!r} does not exist here",
                peer,
            )
            return
        result = channel.bundle.evaluate(
            "Readers", [SignedData(env.creator, env.payload, env.signature)]
        )
        if not result.satisfied and not _is_signing_consenter(channel.bundle, env):
            yield self._refuse(
                channel_id,
                "forbidden",
                common_pb2.FORBIDDEN,
                f"Readers policy not satisfied: {result.reason}",
                peer,
            )
            return
        height = channel.height()
        start = resolve_position(seek.start, height, default=height)
        stop = resolve_position(seek.stop, height, default=start)
        if start > stop:
            yield self._refuse(
                channel_id,
                "bad_request",
                common_pb2.BAD_REQUEST,
                f"start {start} is after stop {stop}",
                peer,
            )
            return
        fail_if_not_ready = seek.behavior == ab_pb2.SeekInfo.FAIL_IF_NOT_READY
        number = start
        while number <= stop:
            if number >= channel.height():
                if fail_if_not_ready:
                    yield self._refuse(
                        channel_id,
                        "not_ready",
                        common_pb2.NOT_FOUND,
                        f"block {number} does not exist yet (height {channel.height()})",
                        peer,
                    )
                    return
                while not channel.wait_for_height(number + 1, _WAIT_SLICE_S):
                    if not is_active():
                        return
            data = channel.block_bytes(number)
            if data is None:  # cannot happen below the height; be safe
                yield status_response(common_pb2.INTERNAL_SERVER_ERROR)
                return
            yield block_response(data)
            number += 1
        yield status_response(common_pb2.SUCCESS)

    def _refuse(self, channel: str, reason: str, status: int, info: str, peer: str) -> bytes:
        log.warning("deliver to %s on %r refused (%s): %s", peer or "?", channel, reason, info)
        if self._metrics is not None:
            self._metrics.deliver_rejections.labels(channel, reason).inc()
        return status_response(status)


def _is_signing_consenter(bundle: ChannelBundle, env: ParsedEnvelope) -> bool:
    """Consenters read the chain too (a lagging one pulls blocks from the others),
    though the channel's Readers policy ranges over the application orgs only."""
    if not bundle.is_consenter(env.creator):
        return False
    try:
        bundle.deserialize_identity(env.creator).verify(env.payload, env.signature)
    except Exception:
        return False
    return True
