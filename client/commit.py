"""`Commit`: following a submitted transaction until a peer has committed it.

The status request is signed (`SignedCommitStatusRequest`); `digest()` is
`hash(request bytes)`, what the signer signs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import grpc

from client.errors import CommitStatusError, validation_code_name
from protos.gateway import gateway_pb2
from protos.peer import transaction_pb2

if TYPE_CHECKING:
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

    @classmethod
    def for_transaction(cls, connection: Connection, channel: str, transaction_id: str) -> Commit:
        request = gateway_pb2.CommitStatusRequest(
            transaction_id=transaction_id, channel_id=channel, identity=connection.creator
        ).SerializeToString(deterministic=True)
        return cls(connection, channel, transaction_id, request)

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
        signature = self.signature
        if signature is None:
            signature = self._connection.sign(self.request_bytes)
        request = gateway_pb2.SignedCommitStatusRequest(
            request=self.request_bytes, signature=signature
        )
        try:
            response = self._connection.gateway.CommitStatus(
                request,
                timeout=timeout if timeout is not None else self._connection.timeouts.commit_status,
            )
        except grpc.RpcError as exc:
            raise CommitStatusError.from_rpc(
                exc, transaction_id=self.transaction_id, target=self._connection.target
            ) from None
        return Status(self.transaction_id, int(response.result), int(response.block_number))
