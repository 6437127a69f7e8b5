"""Transaction envelopes: assembling them from endorsed responses, and parsing
them (any envelope's header; an endorser transaction in full) as validators do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import Message

from common.txutil.base import (
    ERROR_THRESHOLD,
    SUCCESS,
    EnvelopeError,
    Signer,
    TxUtilError,
    ser,
)
from common.txutil.proposal import ParsedProposal, proposal_hash
from protos.common import common_pb2
from protos.peer import proposal_pb2, proposal_response_pb2, transaction_pb2


def create_transaction_payload(
    proposal: ParsedProposal, responses: Sequence[proposal_response_pb2.ProposalResponse]
) -> bytes:
    """The unsigned `Payload` bytes of the transaction (what the Gateway's Endorse
    returns for the client to sign). Raises `TxUtilError` (`BAD_RESPONSES`) if there
    are no responses, one is not successful or unendorsed, or their payloads differ."""
    if not responses:
        raise TxUtilError("at least one proposal response is required", code="BAD_RESPONSES")
    first = bytes(responses[0].payload)
    for index, response in enumerate(responses):
        if not SUCCESS <= response.response.status < ERROR_THRESHOLD:
            raise TxUtilError(
                f"proposal response {index} is not successful: status "
                f"{response.response.status} {response.response.message!r}",
                code="BAD_RESPONSES",
            )
        if not response.HasField("endorsement") or not response.endorsement.signature:
            raise TxUtilError(f"proposal response {index} is not endorsed", code="BAD_RESPONSES")
        if bytes(response.payload) != first:
            raise TxUtilError(
                f"proposal response {index}'s payload differs from response 0's: the "
                "endorsers simulated different results",
                code="BAD_RESPONSES",
            )
    action_payload = transaction_pb2.ChaincodeActionPayload(
        chaincode_proposal_payload=proposal.stripped_payload_bytes,
        action=transaction_pb2.ChaincodeEndorsedAction(
            proposal_response_payload=first,
            endorsements=[r.endorsement for r in responses],
        ),
    )
    transaction = transaction_pb2.Transaction(
        actions=[
            transaction_pb2.TransactionAction(
                header=proposal.signature_header_bytes, payload=ser(action_payload)
            )
        ]
    )
    # The Header is rebuilt from the proposal's exact header fields (same bytes).
    header = common_pb2.Header(
        channel_header=proposal.channel_header_bytes,
        signature_header=proposal.signature_header_bytes,
    )
    return ser(common_pb2.Payload(header=header, data=ser(transaction)))


def sign_envelope(payload: bytes, signer: Signer) -> common_pb2.Envelope:
    """`Envelope{payload, signature by signer over exactly payload}`."""
    return common_pb2.Envelope(payload=payload, signature=signer.sign(payload))


def assemble_transaction(
    proposal: ParsedProposal,
    responses: Sequence[proposal_response_pb2.ProposalResponse],
    signer: Signer,
) -> common_pb2.Envelope:
    """The signed transaction envelope (Fabric's `CreateSignedTx`). The signer must be
    the proposal's creator (`NOT_CREATOR` otherwise)."""
    if signer.serialize() != proposal.creator:
        raise TxUtilError(
            "the transaction must be signed by the proposal's creator", code="NOT_CREATOR"
        )
    return sign_envelope(create_transaction_payload(proposal, responses), signer)


@dataclass(frozen=True)
class EndorsementData:
    endorser: bytes
    signature: bytes


@dataclass(frozen=True)
class ParsedTransaction:
    """An endorser transaction envelope as a validator needs it.

    Keeps the exact signed bytes: `payload_bytes` (creator signature),
    `response_payload_bytes` (every endorsement signs it ‖ endorser) and the headers
    (proposal hash). `rwset_bytes` is the action's serialised TxReadWriteSet and
    `event_bytes` its serialised ChaincodeEvent ('' when none).
    """

    payload_bytes: bytes
    signature: bytes
    channel_header_bytes: bytes
    signature_header_bytes: bytes
    header_type: int
    channel_id: str
    tx_id: str
    timestamp: tuple[int, int]
    creator: bytes
    nonce: bytes
    chaincode: str
    chaincode_proposal_payload: bytes
    response_payload_bytes: bytes
    proposal_hash: bytes
    endorsements: tuple[EndorsementData, ...]
    rwset_bytes: bytes
    event_bytes: bytes
    response_status: int
    response_message: str
    action_chaincode: str
    action_chaincode_version: str

    def computed_proposal_hash(self) -> bytes:
        """The proposal hash recomputed from this transaction's own headers/payload."""
        return proposal_hash(
            self.channel_header_bytes, self.signature_header_bytes, self.chaincode_proposal_payload
        )


@dataclass(frozen=True)
class EnvelopeHeader:
    """The common part of any envelope: payload bytes, signature and headers."""

    payload: common_pb2.Payload
    payload_bytes: bytes
    signature: bytes
    channel_header: common_pb2.ChannelHeader
    channel_header_bytes: bytes
    signature_header: common_pb2.SignatureHeader
    signature_header_bytes: bytes


def parse_envelope_header(envelope_bytes: bytes) -> EnvelopeHeader:
    """Parse an envelope's payload and headers (any header type).

    Raises `EnvelopeError` with NIL_ENVELOPE / BAD_PAYLOAD / BAD_COMMON_HEADER /
    BAD_CHANNEL_HEADER as Fabric's `ValidateTransaction` would.
    """
    return _envelope_header(*_envelope_parts(envelope_bytes))


def parse_envelope_message_header(envelope: common_pb2.Envelope) -> EnvelopeHeader:
    """`parse_envelope_header` of an Envelope already parsed (a gateway SubmitRequest
    carries one): the same checks and errors, without serialising it again."""
    if envelope.ByteSize() == 0:
        raise EnvelopeError("empty envelope", validation_code=transaction_pb2.NIL_ENVELOPE)
    return _envelope_header(envelope, *_header_parts(envelope))


def _envelope_header(
    envelope: common_pb2.Envelope,
    payload: common_pb2.Payload,
    channel_header: common_pb2.ChannelHeader,
    signature_header: common_pb2.SignatureHeader,
) -> EnvelopeHeader:
    return EnvelopeHeader(
        payload=payload,
        payload_bytes=envelope.payload,
        signature=envelope.signature,
        channel_header=channel_header,
        channel_header_bytes=payload.header.channel_header,
        signature_header=signature_header,
        signature_header_bytes=payload.header.signature_header,
    )


_M = TypeVar("_M", bound=Message)


def _decode(message_type: type[_M], data: bytes, what: str, validation_code: int) -> _M:
    """`message_type` parsed from `data`, or `EnvelopeError("{what}: …")` with
    `validation_code`."""
    try:
        return message_type.FromString(data)
    except Exception as exc:
        raise EnvelopeError(f"{what}: {exc}", validation_code=validation_code) from None


def _envelope_parts(
    envelope_bytes: bytes,
) -> tuple[
    common_pb2.Envelope, common_pb2.Payload, common_pb2.ChannelHeader, common_pb2.SignatureHeader
]:
    """The checks and messages of `parse_envelope_header`, without building its
    value (`parse_transaction` runs once per transaction on every peer).

    Bytes fields of parsed messages are already immutable `bytes`: the values
    handed out are the exact received bytes, never re-serialisations.
    """
    if not envelope_bytes:
        raise EnvelopeError("empty envelope", validation_code=transaction_pb2.NIL_ENVELOPE)
    envelope = _decode(
        common_pb2.Envelope, envelope_bytes, "bad envelope payload", transaction_pb2.BAD_PAYLOAD
    )
    return (envelope, *_header_parts(envelope))


def _header_parts(
    envelope: common_pb2.Envelope,
) -> tuple[common_pb2.Payload, common_pb2.ChannelHeader, common_pb2.SignatureHeader]:
    V = transaction_pb2
    payload = _decode(common_pb2.Payload, envelope.payload, "bad envelope payload", V.BAD_PAYLOAD)
    if not payload.HasField("header"):
        raise EnvelopeError("payload has no header", validation_code=V.BAD_COMMON_HEADER)
    header = payload.header
    channel_header = _decode(
        common_pb2.ChannelHeader, header.channel_header, "bad channel header", V.BAD_CHANNEL_HEADER
    )
    signature_header = _decode(
        common_pb2.SignatureHeader,
        header.signature_header,
        "bad signature header",
        V.BAD_COMMON_HEADER,
    )
    return payload, channel_header, signature_header


def parse_transaction(envelope_bytes: bytes) -> ParsedTransaction:
    """Parse a serialised endorser-transaction Envelope; raises `EnvelopeError` whose
    `validation_code` says how the tx is invalid. Checks structure only (no
    signatures, no txid): one action, its header equal to the payload's signature
    header, an endorsed action with a ChaincodeAction."""
    V = transaction_pb2
    envelope, payload, ch, sh = _envelope_parts(envelope_bytes)
    if ch.type != common_pb2.ENDORSER_TRANSACTION:
        raise EnvelopeError(
            f"header type {ch.type} is not ENDORSER_TRANSACTION",
            validation_code=V.UNKNOWN_TX_TYPE,
        )
    creator, nonce = sh.creator, sh.nonce
    if not creator or not nonce:
        raise EnvelopeError(
            "signature header lacks creator or nonce", validation_code=V.BAD_COMMON_HEADER
        )
    extension = _decode(
        proposal_pb2.ChaincodeHeaderExtension,
        ch.extension,
        "bad header extension",
        V.BAD_HEADER_EXTENSION,
    )
    chaincode = extension.chaincode_id.name
    if not chaincode:
        raise EnvelopeError(
            "header extension names no chaincode", validation_code=V.BAD_HEADER_EXTENSION
        )
    transaction = _decode(
        transaction_pb2.Transaction, payload.data, "bad transaction", V.BAD_PAYLOAD
    )
    actions = transaction.actions
    if len(actions) != 1:
        raise EnvelopeError(
            f"an endorser transaction has exactly one action, not {len(actions)}",
            validation_code=V.NIL_TXACTION if not actions else V.BAD_PAYLOAD,
        )
    action = actions[0]
    header = payload.header
    signature_header_bytes = header.signature_header
    if action.header != signature_header_bytes:
        raise EnvelopeError(
            "the action's signature header differs from the payload's",
            validation_code=V.INVALID_ENDORSER_TRANSACTION,
        )
    try:
        action_payload = transaction_pb2.ChaincodeActionPayload.FromString(action.payload)
        endorsed = action_payload.action
        response_payload_bytes = endorsed.proposal_response_payload
        response_payload = proposal_response_pb2.ProposalResponsePayload.FromString(
            response_payload_bytes
        )
    except Exception as exc:
        raise EnvelopeError(
            f"bad action payload: {exc}", validation_code=V.BAD_RESPONSE_PAYLOAD
        ) from None
    cc_action = _decode(
        proposal_pb2.ChaincodeAction,
        response_payload.extension,
        "bad chaincode action",
        V.BAD_RESPONSE_PAYLOAD,
    )
    timestamp = ch.timestamp
    response = cc_action.response
    action_chaincode = cc_action.chaincode_id
    return ParsedTransaction(
        payload_bytes=envelope.payload,
        signature=envelope.signature,
        channel_header_bytes=header.channel_header,
        signature_header_bytes=signature_header_bytes,
        header_type=ch.type,
        channel_id=ch.channel_id,
        tx_id=ch.tx_id,
        timestamp=(timestamp.seconds, timestamp.nanos),
        creator=creator,
        nonce=nonce,
        chaincode=chaincode,
        chaincode_proposal_payload=action_payload.chaincode_proposal_payload,
        response_payload_bytes=response_payload_bytes,
        proposal_hash=response_payload.proposal_hash,
        endorsements=tuple(
            [EndorsementData(e.endorser, e.signature) for e in endorsed.endorsements]
        ),
        rwset_bytes=cc_action.results,
        event_bytes=cc_action.events,
        response_status=response.status,
        response_message=response.message,
        action_chaincode=action_chaincode.name,
        action_chaincode_version=action_chaincode.version,
    )
