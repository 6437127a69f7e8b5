"""`Proposal`: a chaincode invocation, built and signed by the client.

A proposal is evaluated (run on one peer, not ordered) or endorsed (run on enough
peers to satisfy the endorsement policy, returning a `Transaction` to sign and
submit). Its `digest()` is `hash(proposal bytes)`, what the signer signs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import grpc

from client.coalescer import coalesced
from client.errors import CallFailure, EndorseError, EvaluateError
from client.transaction import Transaction
from protos.gateway import gateway_pb2
from protos.peer import proposal_pb2

if TYPE_CHECKING:
    from client.gateway import Connection

__all__ = ["Proposal"]

_ERROR_THRESHOLD = 400  # Fabric: a chaincode response status >= 400 is an error


@dataclass(frozen=True)
class Proposal:
    """A proposal for one transaction id; immutable (signing returns a new one)."""

    _connection: Connection
    channel: str
    chaincode: str
    transaction_id: str
    proposal_bytes: bytes
    signature: bytes | None = None
    endorsing_organizations: tuple[str, ...] = ()

    def digest(self) -> bytes:
        """What the signer signs: `hash(proposal bytes)`."""
        return self._connection.hash(self.proposal_bytes)

    def with_signature(self, signature: bytes) -> Proposal:
        """This proposal signed offline (`signature` over `digest()`)."""
        return replace(self, signature=signature)

    def to_bytes(self) -> bytes:
        """Serialised state (`gateway.ProposedTransaction`), for signing elsewhere and
        `Gateway.new_signed_proposal`."""
        return gateway_pb2.ProposedTransaction(
            transaction_id=self.transaction_id,
            proposal=proposal_pb2.SignedProposal(
                proposal_bytes=self.proposal_bytes, signature=self.signature or b""
            ),
            endorsing_organizations=self.endorsing_organizations,
        ).SerializeToString(deterministic=True)

    def signed_proposal(self) -> proposal_pb2.SignedProposal:
        """The SignedProposal, signing now if it is not signed yet."""
        signature = self.signature
        if signature is None:
            signature = self._connection.sign(self.proposal_bytes)
        return proposal_pb2.SignedProposal(proposal_bytes=self.proposal_bytes, signature=signature)

    def evaluate(self) -> bytes:
        """Run the proposal on a peer without ordering it; returns the result payload.

        Raises `EvaluateError` (with the contract's `code` for a contract error).
        """
        signed = self.signed_proposal()
        request = gateway_pb2.EvaluateRequest(
            transaction_id=self.transaction_id,
            channel_id=self.channel,
            proposed_transaction=signed,
            target_organizations=self.endorsing_organizations,
        )
        try:
            response = self._connection.gateway.Evaluate(
                request, timeout=self._connection.timeouts.evaluate
            )
        except grpc.RpcError as exc:
            raise EvaluateError.from_rpc(
                exc, transaction_id=self.transaction_id, target=self._connection.target
            ) from None
        result = response.result
        if result.status >= _ERROR_THRESHOLD:
            raise EvaluateError(
                result.message or f"chaincode response status {result.status}",
                transaction_id=self.transaction_id,
            )
        return bytes(result.payload)

    def endorse(self) -> Transaction:
        """Collect endorsements; returns the `Transaction` to sign and submit.

        Raises `EndorseError`; nothing has been ordered then. In the batching mode the
        request may share an `EndorseBatch` call with concurrent ones; the outcome and
        the error are the same.
        """
        signed = self.signed_proposal()
        request = gateway_pb2.EndorseRequest(
            transaction_id=self.transaction_id,
            channel_id=self.channel,
            proposed_transaction=signed,
            endorsing_organizations=self.endorsing_organizations,
        )
        conn = self._connection
        outcome = coalesced(
            conn.batch.endorse if conn.batch is not None else None,
            conn.gateway.Endorse,
            request,
            conn.timeouts.endorse,
        )
        if isinstance(outcome, CallFailure):
            raise EndorseError.from_failure(
                outcome, transaction_id=self.transaction_id, target=conn.target
            )
        response = outcome
        return Transaction.from_payload(
            conn,
            self.channel,
            self.transaction_id,
            bytes(response.prepared_transaction.payload),
            None,
        )
