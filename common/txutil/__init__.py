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

The modules: `base` (Signer, errors, serialisation), `proposal` (proposals and
responses), `transaction` (envelopes), `deliver` (seek requests).
"""

from __future__ import annotations

from common.txutil.base import (
    ERROR_THRESHOLD,
    SUCCESS,
    EnvelopeError,
    ProposalError,
    Signer,
    TxUtilError,
)
from common.txutil.deliver import build_seek_envelope, seek_info
from common.txutil.proposal import (
    ParsedProposal,
    build_proposal,
    build_proposal_response,
    endorsement_signed_bytes,
    parse_proposal,
    parse_signed_proposal,
    proposal_hash,
    sign_proposal,
    strip_transient,
)
from common.txutil.transaction import (
    EndorsementData,
    EnvelopeHeader,
    ParsedTransaction,
    assemble_transaction,
    create_transaction_payload,
    parse_envelope_header,
    parse_envelope_message_header,
    parse_transaction,
    sign_envelope,
)

__all__ = [
    "ERROR_THRESHOLD",
    "SUCCESS",
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
    "parse_envelope_message_header",
    "parse_proposal",
    "parse_signed_proposal",
    "parse_transaction",
    "proposal_hash",
    "seek_info",
    "sign_envelope",
    "sign_proposal",
    "strip_transient",
]
