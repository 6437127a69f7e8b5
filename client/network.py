"""`Network`: one channel as a client sees it — its contracts and its events."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from client.commit import Commit
from client.contract import Contract
from client.events import (
    FOREVER,
    BlockEvents,
    ChaincodeEvents,
    SeekSigner,
    open_requests,
    seek_position,
)
from common.txutil import build_seek_envelope
from protos.gateway import gateway_pb2
from protos.orderer import ab_pb2

if TYPE_CHECKING:
    from client.checkpoint import Checkpointer
    from client.gateway import Connection

__all__ = ["Network"]


@dataclass(frozen=True)
class Network:
    """Channel `name` through the gateway peer."""

    _connection: Connection
    name: str

    def contract(self, chaincode: str) -> Contract:
        """Chaincode `chaincode` on this channel (no call is made)."""
        return Contract(self._connection, self.name, chaincode)

    def new_commit(self, transaction_id: str) -> Commit:
        """A `Commit` for any txid (e.g. one submitted by an earlier process)."""
        return Commit.for_transaction(self._connection, self.name, transaction_id)

    def block_events(
        self, *, start_block: int | None = None, checkpoint: Checkpointer | None = None
    ) -> BlockEvents:
        """Committed blocks from `start_block` (default: the newest), forever, until
        closed. A checkpointer with a checkpoint overrides `start_block`; the caller
        checkpoints (`checkpoint.checkpoint_block(n)`) after processing block n."""
        if checkpoint is not None and checkpoint.block_number is not None:
            start_block = checkpoint.block_number
        start = seek_position(start_block, newest=True)
        return self._deliver(start, seek_position(FOREVER), ab_pb2.SeekInfo.BLOCK_UNTIL_READY)

    def blocks(self, first: int, last: int | None = None) -> BlockEvents:
        """Blocks `[first, last]` (default `last`: the newest), without waiting for
        new ones: a block beyond the height raises `EventsError` (`BLOCK_NOT_FOUND`)."""
        return self._deliver(
            seek_position(first),
            seek_position(last, newest=True),
            ab_pb2.SeekInfo.FAIL_IF_NOT_READY,
        )

    def newest_block(self) -> int:
        """The number of the newest committed block."""
        stream = self._deliver(
            seek_position(None, newest=True),
            seek_position(None, newest=True),
            ab_pb2.SeekInfo.FAIL_IF_NOT_READY,
        )
        with stream:
            return int(next(stream).header.number)

    def _deliver(
        self, start: ab_pb2.SeekPosition, stop: ab_pb2.SeekPosition, behavior: Any
    ) -> BlockEvents:
        conn = self._connection
        envelope = build_seek_envelope(
            self.name,
            ab_pb2.SeekInfo(start=start, stop=stop, behavior=behavior),
            SeekSigner(conn),
            tls_cert_hash=conn.tls_cert_hash,
        )

        def start_call(closed: threading.Event) -> Any:
            return conn.deliver.Deliver(open_requests(envelope, closed))

        return BlockEvents(start_call, conn.target)

    def chaincode_events(
        self,
        chaincode: str,
        *,
        start_block: int | None = None,
        checkpoint: Checkpointer | None = None,
    ) -> ChaincodeEvents:
        """Events of `chaincode` from `start_block` (default: the next commit), until
        closed. A checkpointer with a checkpoint overrides `start_block` and skips the
        events up to its transaction; the caller checkpoints each event it handles."""
        conn = self._connection
        after = ""
        if checkpoint is not None and checkpoint.block_number is not None:
            start_block, after = checkpoint.block_number, checkpoint.transaction_id
        request = gateway_pb2.ChaincodeEventsRequest(
            channel_id=self.name,
            chaincode_id=chaincode,
            identity=conn.creator,
            start_position=seek_position(start_block),
            after_transaction_id=after,
        ).SerializeToString(deterministic=True)
        signed = gateway_pb2.SignedChaincodeEventsRequest(
            request=request, signature=conn.sign(request)
        )

        def start_call(_closed: threading.Event) -> Any:
            return conn.gateway.ChaincodeEvents(signed)

        return ChaincodeEvents(start_call, conn.target)
