"""The `orderer.AtomicBroadcast` gRPC service (Fabric's service and method names).

Registered with identity (de)serializers: requests reach the handlers as the
exact bytes the client sent (so the envelope ordered and the payload verified are
byte-for-byte the client's), and responses are pre-serialized (Deliver sends
stored block bytes without re-encoding them).
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from orderer.broadcast import BroadcastHandler
from orderer.deliver import DeliverHandler

SERVICE = "orderer.AtomicBroadcast"


def _identity(data: bytes) -> bytes:
    return data


class AtomicBroadcastService:
    def __init__(self, broadcast: BroadcastHandler, deliver: DeliverHandler) -> None:
        self._broadcast = broadcast
        self._deliver = deliver

    def broadcast(
        self, requests: Iterator[bytes], context: grpc.ServicerContext
    ) -> Iterator[bytes]:
        return self._broadcast.stream(requests, context.peer())

    def deliver(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        return self._deliver.stream(requests, context.is_active, context.peer())

    def add_to_server(self, server: grpc.Server) -> None:
        handlers = {
            "Broadcast": grpc.stream_stream_rpc_method_handler(
                self.broadcast, request_deserializer=_identity, response_serializer=_identity
            ),
            "Deliver": grpc.stream_stream_rpc_method_handler(
                self.deliver, request_deserializer=_identity, response_serializer=_identity
            ),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
