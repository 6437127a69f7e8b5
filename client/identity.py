"""Who the client is and how it signs (fabric-gateway's `Identity`, `Signer`, `Hash`).

An `Identity` is an MSP id and an X.509 certificate; it serialises to the
`msp.SerializedIdentity` bytes every message carries as its creator. Signing is
separate and pluggable, as in fabric-gateway:

* a `Hash` turns the message bytes into a digest (default SHA-256);
* a `Signer` turns that digest into a DER ECDSA signature (low-S).

So a hardware or remote signer only ever sees digests, and offline signing works by
taking `.digest()` of a proposal, transaction or commit, signing it elsewhere, and
handing the signature back (`with_signature`). The digest contract: what a `Signer`
receives is exactly `hash(message bytes)`, and the signature verifies as ECDSA-SHA256
over the message bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from common import crypto
from common.msp import SigningIdentity, serialize_identity

__all__ = ["Hash", "Identity", "Signer", "private_key_signer", "sha256"]

Signer = Callable[[bytes], bytes]
"""Signs a digest (the output of a `Hash`) and returns a DER ECDSA signature."""

Hash = Callable[[bytes], bytes]
"""Turns message bytes into the digest a `Signer` signs."""


def sha256(message: bytes) -> bytes:
    """The default `Hash`: SHA-256 (what ECDSA-P256 endorsement checks expect)."""
    return hashlib.sha256(message).digest()


def private_key_signer(key: crypto.PrivateKey) -> Signer:
    """A `Signer` over a P-256 key: signs a SHA-256 digest, low-S normalised (peers
    reject high-S signatures)."""
    algorithm = ec.ECDSA(Prehashed(hashes.SHA256()))

    def sign(digest: bytes) -> bytes:
        return crypto.to_low_s(key.sign(digest, algorithm))

    return sign


@dataclass(frozen=True)
class Identity:
    """An MSP id and PEM certificate, with the signer of its key when it was loaded.

    `signer` is None for an identity whose key lives elsewhere (offline signing or a
    signer passed to `Gateway.connect`).
    """

    mspid: str
    certificate: bytes
    signer: Signer | None = field(default=None, repr=False, compare=False)

    def serialize(self) -> bytes:
        """The `msp.SerializedIdentity` bytes (the creator of every message)."""
        return serialize_identity(self.mspid, self.certificate)

    @classmethod
    def from_pem(cls, mspid: str, certificate: bytes, key: bytes | None = None) -> Identity:
        """From PEM bytes; with `key`, the pair is checked (`KEY_MISMATCH`)."""
        if key is None:
            crypto.load_certificate_pem(certificate, source="client certificate")
            return cls(mspid, certificate)
        return cls.from_signing_identity(SigningIdentity.from_pem(mspid, certificate, key))

    @classmethod
    def from_files(cls, mspid: str, certificate: str | Path, key: str | Path) -> Identity:
        """From a PEM certificate file and its PEM key file."""
        return cls.from_pem(mspid, Path(certificate).read_bytes(), Path(key).read_bytes())

    @classmethod
    def from_msp_dir(cls, path: str | Path, mspid: str) -> Identity:
        """From Fabric's local MSP folder (`signcerts/*.pem`, `keystore/*_sk`); raises
        `MspError` (`MSP_DIR_INVALID`, `KEY_MISMATCH`) naming what is missing."""
        return cls.from_signing_identity(SigningIdentity.from_msp_dir(path, mspid))

    @classmethod
    def from_signing_identity(cls, signing: SigningIdentity) -> Identity:
        return cls(
            mspid=str(signing.mspid),
            certificate=crypto.certificate_to_pem(signing.identity.certificate),
            signer=private_key_signer(signing.private_key),
        )
