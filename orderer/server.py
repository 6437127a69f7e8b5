"""The `orderer.AtomicBroadcast` gRPC service (Fabric's service and method names),
and beside it our `scf.BroadcastBatch` (protos/scf/batch.proto: many envelopes per
call, for scfchain gateway peers; Fabric clients never see it).

Registered with identity (de)serializers: requests reach the handlers as the
exact bytes the client sent (so the envelope ordered and the payload verified are
byte-for-byte the client's), and responses are pre-serialized (Deliver sends
stored block bytes without re-encoding them). A batch request is split into its
envelopes' exact bytes here (`split_envelopes`), not parsed and re-encoded.

`BroadcastEnvelopes` contract: `responses[i]` answers `envelopes[i]` exactly as a
Broadcast stream would (`BroadcastHandler.batch`); an empty batch → an empty reply;
more than `max_batch` envelopes (default `grpclimits.MAX_BROADCAST_BATCH`) or bytes
that are not an `EnvelopeBatch` → INVALID_ARGUMENT, nothing admitted. It is a unary
call, so the server's unary limits (`common.grpclimits`) bound it.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from common.grpclimits import MAX_BROADCAST_BATCH
from orderer.broadcast import BroadcastHandler
from orderer.deliver import DeliverHandler
from protos.scf import batch_pb2

SERVICE = "orderer.AtomicBroadcast"
BATCH_SERVICE = "scf.BroadcastBatch"


def _identity(data: bytes) -> bytes:
    return data


def split_envelopes(request: bytes) -> list[bytes]:
    """The exact bytes of each `envelopes` entry (field 1) of a serialized
    `scf.EnvelopeBatch`, in order; other fields are skipped, as protobuf skips
    unknown fields. Raises ValueError when `request` is not valid wire format."""
    envelopes: list[bytes] = []
    end = len(request)
    at = 0
    while at < end:
        key, at = _varint(request, at)
        wire_type = key & 7
        if wire_type == 2:
            length, at = _varint(request, at)
            if at + length > end:
                raise ValueError("truncated field")
            if key >> 3 == 1:
                envelopes.append(request[at : at + length])
            at += length
        elif wire_type == 0:
            _, at = _varint(request, at)
        elif wire_type in (1, 5):
            at += 8 if wire_type == 1 else 4
            if at > end:
                raise ValueError("truncated field")
        else:
            raise ValueError(f"unexpected wire type {wire_type}")
    return envelopes


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """The base-128 varint at `data[at:]` and the offset after it."""
    value = 0
    for shift in range(0, 64, 7):
        if at >= len(data):
            raise ValueError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
    raise ValueError("varint longer than 10 bytes")


class AtomicBroadcastService:
    def __init__(
        self,
        broadcast: BroadcastHandler,
        deliver: DeliverHandler,
        *,
        max_batch: int = MAX_BROADCAST_BATCH,
    ) -> None:
        self._broadcast = broadcast
        self._deliver = deliver
        self._max_batch = max_batch

    def broadcast(
        self, requests: Iterator[bytes], context: grpc.ServicerContext
    ) -> Iterator[bytes]:
        return self._broadcast.stream(requests, context.peer())

    def deliver(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        return self._deliver.stream(requests, context.is_active, context.peer())

    def broadcast_envelopes(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        try:
            envelopes = split_envelopes(request)
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed EnvelopeBatch: {exc}")
        if len(envelopes) > self._max_batch:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"BATCH_TOO_LARGE: {len(envelopes)} envelopes in one batch; at most "
                f"{self._max_batch} are accepted",
            )
        responses = self._broadcast.batch(envelopes, context.peer())
        return batch_pb2.BroadcastResponseBatch(responses=responses).SerializeToString()

    def add_to_server(self, server: grpc.Server) -> None:
        handlers = {
            "Broadcast": grpc.stream_stream_rpc_method_handler(
                self.broadcast, request_deserializer=_identity, response_serializer=_identity
            ),
            "Deliver": grpc.stream_stream_rpc_method_handler(
                self.deliver, request_deserializer=_identity, response_serializer=_identity
            ),
        }
        batch = {
            "BroadcastEnvelopes": grpc.unary_unary_rpc_method_handler(
                self.broadcast_envelopes,
                request_deserializer=_identity,
                response_serializer=_identity,
            ),
        }
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(SERVICE, handlers),
                grpc.method_handlers_generic_handler(BATCH_SERVICE, batch),
            )
        )
