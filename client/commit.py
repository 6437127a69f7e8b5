"""`Commit`: following a submitted transaction until a peer has committed it.

The status request is signed (`SignedCommitStatusRequest`); `digest()` is
`hash(request bytes)`, what the signer signs. In the batching mode a commit made by
`Transaction.submit` also holds its waiter on the channel's commit stream
(`client.commit_notifier`): `status()` answers from the stream, and makes the signed
CommitStatus call only when the stream cannot answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import grpc

from client.errors import CommitStatusError, validation_code_name
from protos.gateway import gateway_pb2
from protos.peer import transaction_pb2

if TYPE_CHECKING:
    from client.commit_notifier import CommitWaiter
    from client.gateway import Connection

__all__ = ["Commit", "Status"]


@dataclass(frozen=True)
class Status:
    """How a transaction committed: `code` is its `TxValidationCode`."""

    transaction_id: str
    code: int
    block_number: int

    @property
    def code_name(self) -> str:
        return validation_code_name(self.code)

    @property
    def successful(self) -> bool:
        return self.code == transaction_pb2.VALID


@dataclass(frozen=True)
class Commit:
    """A submitted transaction's pending commit; immutable."""

    _connection: Connection
    channel: str
    transaction_id: str
    request_bytes: bytes
    signature: bytes | None = None
    _waiter: CommitWaiter | None = field(default=None, repr=False, compare=False)

    @classmethod
    def for_transaction(
        cls,
        connection: Connection,
        channel: str,
        transaction_id: str,
        waiter: CommitWaiter | None = None,
    ) -> Commit:
        request = gateway_pb2.CommitStatusRequest(
            transaction_id=transaction_id, channel_id=channel, identity=connection.creator
        ).SerializeToString(deterministic=True)
        return cls(connection, channel, transaction_id, request, _waiter=waiter)

    def digest(self) -> bytes:
        """What the signer signs: `hash(CommitStatusRequest bytes)`."""
        return self._connection.hash(self.request_bytes)

    def with_signature(self, signature: bytes) -> Commit:
        """This commit's status request signed offline (over `digest()`)."""
        return replace(self, signature=signature)

    def to_bytes(self) -> bytes:
        """The serialised CommitStatusRequest (for `Gateway.new_signed_commit`)."""
        return self.request_bytes

    def status(self, timeout: float | None = None) -> Status:
        """Wait until the gateway peer has committed the transaction; returns its
        status (valid or not). Raises `CommitStatusError` if the peer cannot tell
        within `timeout` (default `Timeouts.commit_status`)."""
        if timeout is None:
            timeout = self._connection.timeouts.commit_status
        if self._waiter is not None:
            # The stream gets the time but a reserve for the authoritative call.
            started = time.monotonic()
            reserve = None if timeout is None else min(_CALL_RESERVE_S, timeout / 2)
            streamed = self._waiter.wait(
                None if timeout is None or reserve is None else timeout - reserve
            )
            if streamed is not None:
                return streamed
            if timeout is not None:
                timeout = max(timeout - (time.monotonic() - started), reserve or 0.0)
        return self._ask(timeout)

    def _ask(self, timeout: float | None) -> Status:
        """The signed CommitStatus call (the standard path, and the safety net)."""
        signature = self.signature
        if signature is None:
            signature = self._connection.sign(self.request_bytes)
        request = gateway_pb2.SignedCommitStatusRequest(
            request=self.request_bytes, signature=signature
        )
        try:
            response = self._connection.gateway.CommitStatus(request, timeout=timeout)
        except grpc.RpcError as exc:
            raise CommitStatusError.from_rpc(
                exc, transaction_id=self.transaction_id, target=self._connection.target
            ) from None
        return Status(self.transaction_id, int(response.result), int(response.block_number))


_CALL_RESERVE_S = 5.0
"""Of a finite `status()` timeout, what is kept for the CommitStatus call when the
commit stream has not answered."""
