"""`Transaction`: an endorsed transaction, to be signed by the client and submitted.

Its `result` is the contract's return value as the endorsers computed it; its
`digest()` is `hash(payload bytes)`, what the signer signs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from client.coalescer import coalesced
from client.commit import Commit
from client.errors import CallFailure, EndorseError, SubmitError
from common.txutil import TxUtilError, parse_transaction
from protos.common import common_pb2
from protos.gateway import gateway_pb2
from protos.peer import proposal_pb2, proposal_response_pb2, transaction_pb2

if TYPE_CHECKING:
    from client.gateway import Connection

__all__ = ["Transaction", "transaction_result"]


def transaction_result(payload: bytes) -> bytes:
    """The chaincode response payload inside an endorsed transaction's `Payload`."""
    tx = transaction_pb2.Transaction.FromString(common_pb2.Payload.FromString(payload).data)
    action_payload = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    response_payload = proposal_response_pb2.ProposalResponsePayload.FromString(
        action_payload.action.proposal_response_payload
    )
    action = proposal_pb2.ChaincodeAction.FromString(response_payload.extension)
    return bytes(action.response.payload)


@dataclass(frozen=True)
class Transaction:
    """An endorsed transaction; immutable (signing returns a new one)."""

    _connection: Connection
    channel: str
    transaction_id: str
    payload: bytes
    result: bytes
    signature: bytes | None = None

    @classmethod
    def from_payload(
        cls,
        connection: Connection,
        channel: str,
        transaction_id: str,
        payload: bytes,
        signature: bytes | None,
    ) -> Transaction:
        """Check the prepared payload is a well-formed transaction for this txid."""
        try:
            parsed = parse_transaction(
                common_pb2.Envelope(payload=payload).SerializeToString(deterministic=True)
            )
            result = transaction_result(payload)
        except (TxUtilError, IndexError, ValueError) as exc:
            raise EndorseError(
                f"the gateway returned a malformed prepared transaction: {exc}",
                transaction_id=transaction_id,
                code="MALFORMED_TRANSACTION",
            ) from None
        if parsed.tx_id != transaction_id:
            raise EndorseError(
                f"the gateway returned a transaction for txid {parsed.tx_id}",
                transaction_id=transaction_id,
                code="MALFORMED_TRANSACTION",
            )
        return cls(connection, channel, transaction_id, payload, result, signature)

    def digest(self) -> bytes:
        """What the signer signs: `hash(payload bytes)`."""
        return self._connection.hash(self.payload)

    def with_signature(self, signature: bytes) -> Transaction:
        """This transaction signed offline (`signature` over `digest()`)."""
        return replace(self, signature=signature)

    def envelope(self) -> common_pb2.Envelope:
        """The signed envelope, signing now if it is not signed yet."""
        signature = self.signature
        if signature is None:
            signature = self._connection.sign(self.payload)
        return common_pb2.Envelope(payload=self.payload, signature=signature)

    def to_bytes(self) -> bytes:
        """Serialised state (`gateway.PreparedTransaction`), for signing elsewhere and
        `Gateway.new_signed_transaction`."""
        return gateway_pb2.PreparedTransaction(
            transaction_id=self.transaction_id,
            envelope=common_pb2.Envelope(payload=self.payload, signature=self.signature or b""),
        ).SerializeToString(deterministic=True)

    def submit(self) -> Commit:
        """Send the signed transaction to the orderers; returns its `Commit` without
        waiting for it. Raises `SubmitError` (the tx was not accepted for ordering).

        In the batching mode the request may share a `SubmitBatch` call with concurrent
        ones (same outcome and error), and the txid is registered with the channel's
        commit stream before it is sent, so the stream cannot miss its block."""
        conn = self._connection
        request = gateway_pb2.SubmitRequest(
            transaction_id=self.transaction_id,
            channel_id=self.channel,
            prepared_transaction=self.envelope(),
        )
        waiter = None
        if conn.batch is not None:
            waiter = conn.batch.commit_waiter(conn, self.channel, self.transaction_id)
        outcome = coalesced(
            conn.batch.submit if conn.batch is not None else None,
            conn.gateway.Submit,
            request,
            conn.timeouts.submit,
        )
        if isinstance(outcome, CallFailure):
            if waiter is not None:
                waiter.abandon()
            raise SubmitError.from_failure(
                outcome, transaction_id=self.transaction_id, target=conn.target
            )
        if waiter is not None:
            waiter.submitted()
        return Commit.for_transaction(conn, self.channel, self.transaction_id, waiter)
