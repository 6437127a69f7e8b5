"""Errors of the membership service provider (MSP).

One class, `MspError`, with one code per failure a person can hit; the message says
which certificate/MSP and what to do. Signature failures keep `common.crypto`'s
`SignatureError` (codes `BAD_SIGNATURE`, `HIGH_S_SIGNATURE`, `MALFORMED_SIGNATURE`).
"""

from __future__ import annotations

from common.errors import ScfError

__all__ = ["MspConfigError", "MspError"]


class MspError(ScfError):
    """An identity was rejected.

    Codes:
      `MALFORMED_IDENTITY`        bytes are not a SerializedIdentity (or lack mspid/cert)
      `UNKNOWN_MSP`               the mspid is not a member of this channel/manager
      `BAD_CERTIFICATE`           id_bytes is not a parseable PEM certificate
      `UNSUPPORTED_KEY`           the certificate's key is not ECDSA P-256
      `CA_CERTIFICATE_AS_IDENTITY` a CA certificate (CA:TRUE) was used as an identity
      `UNTRUSTED_CERTIFICATE`     does not chain to one of the MSP's root CAs
      `CERTIFICATE_EXPIRED`       now is after notAfter of a certificate in the chain
      `CERTIFICATE_NOT_YET_VALID` now is before notBefore of a certificate in the chain
      `CERTIFICATE_REVOKED`       listed in a CRL of a CA in the chain
      `NO_ROLE`                   no NodeOU role (client/peer/orderer/admin) in subject OU
      `AMBIGUOUS_ROLE`            more than one NodeOU role in subject OU
      `BAD_ATTRIBUTES`            the attribute extension is not JSON {"attrs": {...}}
      `KEY_MISMATCH`              a signing key does not match its certificate
      `MSP_DIR_INVALID`           an msp folder lacks signcerts/keystore material
    """

    code = "MSP_ERROR"


class MspConfigError(MspError):
    """An `MspConfig` is unusable (`BAD_MSP_CONFIG`): no roots, a CRL by a foreign CA, ..."""

    code = "BAD_MSP_CONFIG"
