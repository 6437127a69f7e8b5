"""Membership service provider: who is who, per organisation (DESIGN §5).

`MSPManager.deserialize_identity(bytes) -> Identity` is the entry point for every stage;
`SigningIdentity` is what clients and nodes sign with; `CertificateAuthority` issues
material for cryptogen and tests.
"""

from common.msp.ca import CertificateAuthority
from common.msp.errors import MspConfigError, MspError
from common.msp.identity import (
    ATTRS_OID,
    Identity,
    MspId,
    NodeOU,
    SigningIdentity,
    identity_from_certificate,
    serialize_identity,
)
from common.msp.manager import MSPManager, utc_now
from common.msp.msp import MSP, MspConfig

__all__ = [
    "ATTRS_OID",
    "MSP",
    "CertificateAuthority",
    "Identity",
    "MSPManager",
    "MspConfig",
    "MspConfigError",
    "MspError",
    "MspId",
    "NodeOU",
    "SigningIdentity",
    "identity_from_certificate",
    "serialize_identity",
    "utc_now",
]
