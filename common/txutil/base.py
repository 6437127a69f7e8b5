"""What every txutil module shares: the `Signer` protocol, the error types, and
deterministic serialisation with the header helpers built on it."""

from __future__ import annotations

from typing import Protocol

from common.errors import ScfError
from protos.common import common_pb2

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


def ser(message: object) -> bytes:
    """`message` serialised with `deterministic=True` (what is signed and hashed)."""
    data: bytes = message.SerializeToString(deterministic=True)  # type: ignore[attr-defined]
    return data


def stamp(channel_header: common_pb2.ChannelHeader, timestamp: tuple[int, int] | None) -> None:
    """Set the header's timestamp to `timestamp` (`(seconds, nanos)`), or now when None."""
    if timestamp is None:
        channel_header.timestamp.GetCurrentTime()
    else:
        channel_header.timestamp.seconds, channel_header.timestamp.nanos = timestamp


def signed_header(
    channel_header: common_pb2.ChannelHeader, creator: bytes, nonce: bytes
) -> common_pb2.Header:
    """`Header{channel header bytes, SignatureHeader{creator, nonce} bytes}`."""
    return common_pb2.Header(
        channel_header=ser(channel_header),
        signature_header=ser(common_pb2.SignatureHeader(creator=creator, nonce=nonce)),
    )
