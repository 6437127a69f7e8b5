"""Building and parsing Fabric transaction messages (Fabric's `protoutil`).

Shared by the peer (endorser, validator), the client SDK and the tests. Every message
is built exactly as Fabric's clients and endorsers build it, so Fabric's own clients
interoperate:

* Proposal: `ChannelHeader{ENDORSER_TRANSACTION, channel_id, tx_id, timestamp,
  extension = ChaincodeHeaderExtension{chaincode_id}}`, `SignatureHeader{creator,
  nonce}`, payload `ChaincodeProposalPayload{input = ChaincodeInvocationSpec}`;
  `tx_id = hex(SHA-256(nonce ‖ creator))`; `SignedProposal{proposal_bytes, signature}`.
* Proposal hash (protoutil `GetProposalHash1/2`): SHA-256 over channel header bytes ‖
  signature header bytes ‖ the `ChaincodeProposalPayload` bytes with its TransientMap
  stripped.
* ProposalResponse: `ProposalResponsePayload{proposal_hash, extension =
  ChaincodeAction{results, events, response, chaincode_id}}`, endorsement signature
  over `payload ‖ endorser`.
* Transaction envelope (protoutil `CreateSignedTx`): one `TransactionAction{header =
  the proposal's SignatureHeader bytes, payload = ChaincodeActionPayload{stripped
  proposal payload, ChaincodeEndorsedAction{proposal_response_payload, endorsements}}}`,
  in `Payload{header = the proposal's Header, data = Transaction}`, signed by the
  creator.

Invariant of every parser here: the parsed value keeps the exact bytes that were
signed or hashed (never a re-serialisation), so signatures are checked over what was
received. Serialisation for building uses `deterministic=True`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from common.crypto import compute_txid, new_nonce
from common.errors import ScfError
from protos.common import common_pb2
from protos.orderer import ab_pb2
from protos.peer import (
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)

__all__ = [
    "EndorsementData",
    "EnvelopeError",
    "EnvelopeHeader",
    "ParsedProposal",
    "ParsedTransaction",
    "ProposalError",
    "Signer",
    "TxUtilError",
    "assemble_transaction",
    "build_proposal",
    "build_proposal_response",
    "build_seek_envelope",
    "create_transaction_payload",
    "endorsement_signed_bytes",
    "parse_envelope_header",
    "parse_proposal",
    "parse_signed_proposal",
    "parse_transaction",
    "proposal_hash",
    "seek_info",
    "sign_envelope",
    "sign_proposal",
    "strip_transient",
]

SUCCESS = 200
"""Response status of a successful chaincode call (Fabric's shim.OK)."""
ERROR_THRESHOLD = 400
"""Fabric treats a chaincode response status >= 400 as an error (shim.ERRORTHRESHOLD)."""


class Signer(Protocol):
    """Anything that signs as an identity (`common.msp.SigningIdentity` does)."""

    def serialize(self) -> bytes: ...

    def sign(self, data: bytes) -> bytes: ...


class TxUtilError(ScfError):
    code = "MALFORMED_MESSAGE"


class ProposalError(TxUtilError):
    """A SignedProposal that cannot be parsed or is not a chaincode proposal.

    Codes: `MALFORMED_PROPOSAL`, `BAD_HEADER_TYPE`, `MISSING_CHAINCODE`.
    """

    code = "MALFORMED_PROPOSAL"


class EnvelopeError(TxUtilError):
    """A transaction envelope that is not a well-formed endorser transaction.

    `validation_code` is the Fabric `TxValidationCode` a validator records for it.
    """

    code = "MALFORMED_TRANSACTION"

    def __init__(self, message: str, *, validation_code: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.validation_code = validation_code


def _ser(message: object) -> bytes:
    data: bytes = message.SerializeToString(deterministic=True)  # type: ignore[attr-defined]
    return data


# ------------------------------------------------------------------------- proposals


def build_proposal(
    channel_id: str,
    chaincode: str,
    args: Sequence[bytes],
    creator: bytes,
    *,
    nonce: bytes | None = None,
    timestamp: tuple[int, int] | None = None,
    transient: Mapping[str, bytes] | None = None,
) -> tuple[proposal_pb2.Proposal, str]:
    """A chaincode invocation proposal and its txid.

    `args[0]` is the function name, as Fabric's clients send it. `timestamp` is
    `(seconds, nanos)` (default: now); `nonce` defaults to 24 fresh random bytes.
    """
    nonce = new_nonce() if nonce is None else nonce
    tx_id = compute_txid(nonce, creator)
    chaincode_id = chaincode_pb2.ChaincodeID(name=chaincode)
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.ENDORSER_TRANSACTION,
        channel_id=channel_id,
        tx_id=tx_id,
        extension=_ser(proposal_pb2.ChaincodeHeaderExtension(chaincode_id=chaincode_id)),
    )
    if timestamp is None:
        channel_header.timestamp.GetCurrentTime()
    else:
        channel_header.timestamp.seconds, channel_header.timestamp.nanos = timestamp
    header = common_pb2.Header(
        channel_header=_ser(channel_header),
        signature_header=_ser(common_pb2.SignatureHeader(creator=creator, nonce=nonce)),
    )
    spec = chaincode_pb2.ChaincodeInvocationSpec(
        chaincode_spec=chaincode_pb2.ChaincodeSpec(
            type=chaincode_pb2.ChaincodeSpec.NODE,
            chaincode_id=chaincode_id,
            input=chaincode_pb2.ChaincodeInput(args=list(args)),
        )
    )
    payload = proposal_pb2.ChaincodeProposalPayload(input=_ser(spec))
    for key, value in (transient or {}).items():
        payload.TransientMap[key] = value
    proposal = proposal_pb2.Proposal(header=_ser(header), payload=_ser(payload))
    return proposal, tx_id


def sign_proposal(proposal: proposal_pb2.Proposal, signer: Signer) -> proposal_pb2.SignedProposal:
    """`SignedProposal{proposal_bytes, signature by signer over exactly those bytes}`."""
    proposal_bytes = _ser(proposal)
    return proposal_pb2.SignedProposal(
        proposal_bytes=proposal_bytes, signature=signer.sign(proposal_bytes)
    )


def strip_transient(payload_bytes: bytes) -> bytes:
    """The `ChaincodeProposalPayload` bytes without the TransientMap (what is hashed and
    what goes into the transaction), Fabric's `GetBytesProposalPayloadForTx`."""
    try:
        payload = proposal_pb2.ChaincodeProposalPayload.FromString(payload_bytes)
    except Exception as exc:  # protobuf's DecodeError is a plain Exception subclass
        raise ProposalError(f"proposal payload is not a ChaincodeProposalPayload: {exc}") from None
    if not payload.TransientMap:
        return payload_bytes
    return _ser(proposal_pb2.ChaincodeProposalPayload(input=payload.input))


def proposal_hash(channel_header: bytes, signature_header: bytes, stripped_payload: bytes) -> bytes:
    """SHA-256(channel header ‖ signature header ‖ payload without transient map)."""
    digest = hashlib.sha256(channel_header)
    digest.update(signature_header)
    digest.update(stripped_payload)
    return digest.digest()


@dataclass(frozen=True)
class ParsedProposal:
    """A chaincode proposal as received, with the exact bytes its signature and hash
    cover. `tx_id` is as claimed by the header (the endorser recomputes it)."""

    proposal_bytes: bytes
    signature: bytes
    header_bytes: bytes
    channel_header_bytes: bytes
    signature_header_bytes: bytes
    payload_bytes: bytes
    stripped_payload_bytes: bytes
    header_type: int
    channel_id: str
    tx_id: str
    timestamp: tuple[int, int]
    epoch: int
    creator: bytes
    nonce: bytes
    chaincode: str
    args: tuple[bytes, ...]

    @property
    def function(self) -> str:
        """`args[0]` decoded, the function name ('' when absent or not UTF-8)."""
        if not self.args:
            return ""
        try:
            return self.args[0].decode()
        except UnicodeDecodeError:
            return ""

    @property
    def function_args(self) -> tuple[bytes, ...]:
        return self.args[1:]

    @property
    def hash(self) -> bytes:
        return proposal_hash(
            self.channel_header_bytes, self.signature_header_bytes, self.stripped_payload_bytes
        )


def parse_signed_proposal(signed: proposal_pb2.SignedProposal) -> ParsedProposal:
    """Parse a SignedProposal; raises `ProposalError` naming what is wrong."""
    return parse_proposal(bytes(signed.proposal_bytes), bytes(signed.signature))


def parse_proposal(proposal_bytes: bytes, signature: bytes = b"") -> ParsedProposal:
    """Parse serialised Proposal bytes (see `parse_signed_proposal`)."""
    try:
        proposal = proposal_pb2.Proposal.FromString(proposal_bytes)
        header = common_pb2.Header.FromString(proposal.header)
        channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
        signature_header = common_pb2.SignatureHeader.FromString(header.signature_header)
    except Exception as exc:
        raise ProposalError(f"proposal or its header is malformed: {exc}") from None
    if channel_header.type != common_pb2.ENDORSER_TRANSACTION:
        raise ProposalError(
            f"proposal header type is {channel_header.type}; only ENDORSER_TRANSACTION "
            f"({common_pb2.ENDORSER_TRANSACTION}) proposals are endorsed",
            code="BAD_HEADER_TYPE",
        )
    if not signature_header.creator or not signature_header.nonce:
        raise ProposalError("proposal signature header lacks a creator or a nonce")
    try:
        extension = proposal_pb2.ChaincodeHeaderExtension.FromString(channel_header.extension)
        payload = proposal_pb2.ChaincodeProposalPayload.FromString(proposal.payload)
        spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(payload.input)
    except Exception as exc:
        raise ProposalError(f"chaincode proposal payload is malformed: {exc}") from None
    name = spec.chaincode_spec.chaincode_id.name
    if not name or extension.chaincode_id.name != name:
        raise ProposalError(
            f"chaincode name missing or inconsistent (header extension "
            f"{extension.chaincode_id.name!r}, invocation spec {name!r})",
            code="MISSING_CHAINCODE",
        )
    stripped = (
        bytes(proposal.payload)
        if not payload.TransientMap
        else _ser(proposal_pb2.ChaincodeProposalPayload(input=payload.input))
    )
    return ParsedProposal(
        proposal_bytes=proposal_bytes,
        signature=signature,
        header_bytes=bytes(proposal.header),
        channel_header_bytes=bytes(header.channel_header),
        signature_header_bytes=bytes(header.signature_header),
        payload_bytes=bytes(proposal.payload),
        stripped_payload_bytes=stripped,
        header_type=channel_header.type,
        channel_id=channel_header.channel_id,
        tx_id=channel_header.tx_id,
        timestamp=(channel_header.timestamp.seconds, channel_header.timestamp.nanos),
        epoch=channel_header.epoch,
        creator=bytes(signature_header.creator),
        nonce=bytes(signature_header.nonce),
        chaincode=name,
        args=tuple(bytes(a) for a in spec.chaincode_spec.input.args),
    )


# ------------------------------------------------------------------------- responses


def endorsement_signed_bytes(response_payload: bytes, endorser: bytes) -> bytes:
    """What an endorsement signature covers: `ProposalResponsePayload ‖ endorser`."""
    return response_payload + endorser


def build_proposal_response(
    proposal_hash_bytes: bytes,
    *,
    results: bytes,
    events: bytes,
    response: proposal_response_pb2.Response,
    chaincode_id: chaincode_pb2.ChaincodeID,
    signer: Signer,
) -> proposal_response_pb2.ProposalResponse:
    """An endorsed ProposalResponse, as Fabric's endorser builds it.

    The payload bytes are deterministic, so two endorsers simulating the same
    proposal on the same state produce the same payload (signatures differ).
    """
    action = proposal_pb2.ChaincodeAction(
        results=results, events=events, response=response, chaincode_id=chaincode_id
    )
    payload = _ser(
        proposal_response_pb2.ProposalResponsePayload(
            proposal_hash=proposal_hash_bytes, extension=_ser(action)
        )
    )
    endorser = signer.serialize()
    return proposal_response_pb2.ProposalResponse(
        version=1,
        response=response,
        payload=payload,
        endorsement=proposal_response_pb2.Endorsement(
            endorser=endorser, signature=signer.sign(endorsement_signed_bytes(payload, endorser))
        ),
    )


# ----------------------------------------------------------------------- transactions


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
                header=proposal.signature_header_bytes, payload=_ser(action_payload)
            )
        ]
    )
    # The Header is rebuilt from the proposal's exact header fields (same bytes).
    header = common_pb2.Header(
        channel_header=proposal.channel_header_bytes,
        signature_header=proposal.signature_header_bytes,
    )
    return _ser(common_pb2.Payload(header=header, data=_ser(transaction)))


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
    envelope, payload, channel_header, signature_header = _envelope_parts(envelope_bytes)
    return EnvelopeHeader(
        payload=payload,
        payload_bytes=envelope.payload,
        signature=envelope.signature,
        channel_header=channel_header,
        channel_header_bytes=payload.header.channel_header,
        signature_header=signature_header,
        signature_header_bytes=payload.header.signature_header,
    )


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
    V = transaction_pb2
    if not envelope_bytes:
        raise EnvelopeError("empty envelope", validation_code=V.NIL_ENVELOPE)
    try:
        envelope = common_pb2.Envelope.FromString(envelope_bytes)
        payload = common_pb2.Payload.FromString(envelope.payload)
    except Exception as exc:
        raise EnvelopeError(f"bad envelope payload: {exc}", validation_code=V.BAD_PAYLOAD) from None
    if not payload.HasField("header"):
        raise EnvelopeError("payload has no header", validation_code=V.BAD_COMMON_HEADER)
    header = payload.header
    try:
        channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
    except Exception as exc:
        raise EnvelopeError(
            f"bad channel header: {exc}", validation_code=V.BAD_CHANNEL_HEADER
        ) from None
    try:
        signature_header = common_pb2.SignatureHeader.FromString(header.signature_header)
    except Exception as exc:
        raise EnvelopeError(
            f"bad signature header: {exc}", validation_code=V.BAD_COMMON_HEADER
        ) from None
    return envelope, payload, channel_header, signature_header


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
    try:
        extension = proposal_pb2.ChaincodeHeaderExtension.FromString(ch.extension)
    except Exception as exc:
        raise EnvelopeError(
            f"bad header extension: {exc}", validation_code=V.BAD_HEADER_EXTENSION
        ) from None
    chaincode = extension.chaincode_id.name
    if not chaincode:
        raise EnvelopeError(
            "header extension names no chaincode", validation_code=V.BAD_HEADER_EXTENSION
        )
    try:
        transaction = transaction_pb2.Transaction.FromString(payload.data)
    except Exception as exc:
        raise EnvelopeError(f"bad transaction: {exc}", validation_code=V.BAD_PAYLOAD) from None
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
    try:
        cc_action = proposal_pb2.ChaincodeAction.FromString(response_payload.extension)
    except Exception as exc:
        raise EnvelopeError(
            f"bad chaincode action: {exc}", validation_code=V.BAD_RESPONSE_PAYLOAD
        ) from None
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


# ---------------------------------------------------------------------------- deliver


def seek_info(
    start: int | None,
    stop: int | None = None,
    *,
    block_until_ready: bool = True,
) -> ab_pb2.SeekInfo:
    """SeekInfo from block `start` (None = newest) to `stop` (None = forever)."""

    def position(number: int | None, *, forever: bool) -> ab_pb2.SeekPosition:
        if number is not None:
            return ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=number))
        if forever:
            # Fabric clients ask "until the end of time" with the largest block number.
            return ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=2**64 - 1))
        return ab_pb2.SeekPosition(newest=ab_pb2.SeekNewest())

    return ab_pb2.SeekInfo(
        start=position(start, forever=False),
        stop=position(stop, forever=True),
        behavior=(
            ab_pb2.SeekInfo.BLOCK_UNTIL_READY
            if block_until_ready
            else ab_pb2.SeekInfo.FAIL_IF_NOT_READY
        ),
    )


def build_seek_envelope(
    channel_id: str,
    info: ab_pb2.SeekInfo,
    signer: Signer,
    *,
    tls_cert_hash: bytes = b"",
    timestamp: tuple[int, int] | None = None,
) -> common_pb2.Envelope:
    """A signed DELIVER_SEEK_INFO envelope for the Deliver services (orderer or peer)."""
    creator = signer.serialize()
    nonce = new_nonce()
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.DELIVER_SEEK_INFO,
        channel_id=channel_id,
        tx_id=compute_txid(nonce, creator),
        tls_cert_hash=tls_cert_hash,
    )
    if timestamp is None:
        channel_header.timestamp.GetCurrentTime()
    else:
        channel_header.timestamp.seconds, channel_header.timestamp.nanos = timestamp
    payload = common_pb2.Payload(
        header=common_pb2.Header(
            channel_header=_ser(channel_header),
            signature_header=_ser(common_pb2.SignatureHeader(creator=creator, nonce=nonce)),
        ),
        data=_ser(info),
    )
    return sign_envelope(_ser(payload), signer)
