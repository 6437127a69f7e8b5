"""Event iterators: blocks (the peer's `protos.Deliver/Deliver`) and chaincode events
(`gateway.Gateway/ChaincodeEvents`).

Both are iterators that must be closed (`close()` or a `with` block); closing cancels
the gRPC stream and ends the iteration. A stream that the peer ends with an error
raises `EventsError`; one that was closed simply stops.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import grpc

from client.errors import EventsError
from protos.common import common_pb2
from protos.gateway import gateway_pb2
from protos.orderer import ab_pb2
from protos.peer import events_pb2

if TYPE_CHECKING:
    from client.gateway import Connection

__all__ = [
    "FOREVER",
    "BlockEvents",
    "ChaincodeEvent",
    "ChaincodeEvents",
    "EventStream",
    "SeekSigner",
    "open_requests",
    "seek_position",
]

FOREVER = 2**64 - 1
"""Fabric clients ask for blocks "until the end of time" with the largest number."""

T = TypeVar("T")

_DELIVER_CODES = {
    common_pb2.NOT_FOUND: "BLOCK_NOT_FOUND",
    common_pb2.FORBIDDEN: "ACCESS_DENIED",
    common_pb2.BAD_REQUEST: "BAD_REQUEST",
    common_pb2.SERVICE_UNAVAILABLE: "SERVICE_UNAVAILABLE",
}


@dataclass(frozen=True)
class ChaincodeEvent:
    """One event set by a VALID committed transaction."""

    block_number: int
    transaction_id: str
    chaincode_name: str
    event_name: str
    payload: bytes


class EventStream(Generic[T]):
    """A closeable iterator over a server stream (see the module docstring)."""

    def __init__(self, start: Callable[[threading.Event], Any], target: str) -> None:
        """`start(closed)` opens the gRPC call; `closed` is set when the stream ends."""
        self._target = target
        self._closed = threading.Event()
        self._pending: list[T] = []
        self._call = start(self._closed)

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        while not self._pending:
            if self._closed.is_set():
                raise StopIteration
            try:
                response = next(self._call)
            except StopIteration:
                self.close()
                raise
            except grpc.RpcError as exc:
                if self._closed.is_set() or exc.code() == grpc.StatusCode.CANCELLED:
                    raise StopIteration from None
                self.close()
                raise EventsError.from_rpc(exc, target=self._target) from None
            self._pending.extend(self._items(response))
        return self._pending.pop(0)

    def _items(self, response: Any) -> list[T]:
        raise NotImplementedError

    def close(self) -> None:
        """Cancel the stream (idempotent); iteration then stops."""
        if not self._closed.is_set():
            self._closed.set()
            self._call.cancel()

    def __enter__(self) -> EventStream[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class BlockEvents(EventStream[common_pb2.Block]):
    """Blocks in order from the start block. The iteration ends when the stop block
    was sent (bounded reads) and raises `EventsError` on a refusal (`BLOCK_NOT_FOUND`
    for a block beyond the height with no waiting, `ACCESS_DENIED`, ...)."""

    def _items(self, response: Any) -> list[common_pb2.Block]:
        reply: events_pb2.DeliverResponse = response
        kind = reply.WhichOneof("Type")
        if kind == "block":
            return [reply.block]
        if kind == "status":
            self.close()
            if reply.status == common_pb2.SUCCESS:
                raise StopIteration
            name = common_pb2.Status.Name(reply.status)
            raise EventsError(
                f"the peer's Deliver service ended the stream: {name}",
                code=_DELIVER_CODES.get(reply.status, f"DELIVER_{name}"),
            )
        return []


class ChaincodeEvents(EventStream[ChaincodeEvent]):
    """Chaincode events of VALID transactions, in commit order."""

    def _items(self, response: Any) -> list[ChaincodeEvent]:
        reply: gateway_pb2.ChaincodeEventsResponse = response
        return [
            ChaincodeEvent(
                block_number=int(reply.block_number),
                transaction_id=event.tx_id,
                chaincode_name=event.chaincode_id,
                event_name=event.event_name,
                payload=bytes(event.payload),
            )
            for event in reply.events
        ]


def open_requests(first: Any, closed: threading.Event) -> Iterator[Any]:
    """A request stream that sends `first` and stays open until `closed` (Fabric's
    Deliver ends the reply stream when the request stream half-closes on some
    servers; keeping it open makes the stream's end the server's decision)."""
    yield first
    closed.wait()


def seek_position(number: int | None, *, newest: bool = False) -> ab_pb2.SeekPosition:
    """Block `number`; without one, the newest block or (default) the next commit."""
    if number is not None:
        return ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=number))
    if newest:
        return ab_pb2.SeekPosition(newest=ab_pb2.SeekNewest())
    return ab_pb2.SeekPosition(next_commit=ab_pb2.SeekNextCommit())


@dataclass(frozen=True)
class SeekSigner:
    """`txutil.Signer` over the connection's hash-then-sign, for seek envelopes."""

    connection: Connection

    def serialize(self) -> bytes:
        return self.connection.creator

    def sign(self, data: bytes) -> bytes:
        return self.connection.sign(data)
