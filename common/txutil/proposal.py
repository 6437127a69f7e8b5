"""Proposals and proposal responses: building, signing, parsing and hashing them
(see the package docstring for the exact message shapes)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from common.crypto import compute_txid, new_nonce
from common.txutil.base import ProposalError, Signer, ser, signed_header, stamp
from protos.common import common_pb2
from protos.peer import chaincode_pb2, proposal_pb2, proposal_response_pb2


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
        extension=ser(proposal_pb2.ChaincodeHeaderExtension(chaincode_id=chaincode_id)),
    )
    stamp(channel_header, timestamp)
    header = signed_header(channel_header, creator, nonce)
    spec = chaincode_pb2.ChaincodeInvocationSpec(
        chaincode_spec=chaincode_pb2.ChaincodeSpec(
            type=chaincode_pb2.ChaincodeSpec.NODE,
            chaincode_id=chaincode_id,
            input=chaincode_pb2.ChaincodeInput(args=list(args)),
        )
    )
    payload = proposal_pb2.ChaincodeProposalPayload(input=ser(spec))
    for key, value in (transient or {}).items():
        payload.TransientMap[key] = value
    proposal = proposal_pb2.Proposal(header=ser(header), payload=ser(payload))
    return proposal, tx_id


def sign_proposal(proposal: proposal_pb2.Proposal, signer: Signer) -> proposal_pb2.SignedProposal:
    """`SignedProposal{proposal_bytes, signature by signer over exactly those bytes}`."""
    proposal_bytes = ser(proposal)
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
    return ser(proposal_pb2.ChaincodeProposalPayload(input=payload.input))


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
        else ser(proposal_pb2.ChaincodeProposalPayload(input=payload.input))
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
    payload = ser(
        proposal_response_pb2.ProposalResponsePayload(
            proposal_hash=proposal_hash_bytes, extension=ser(action)
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
