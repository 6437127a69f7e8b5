"""A fake identity layer for policy tests: real ECDSA P-256 keys, fake certificates.

Keys are derived from fixed scalars so every run signs with the same keys; ECDSA
signatures themselves are randomised, but whether they verify is not.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from common.policies import SignedData


class UnknownIdentityError(Exception):
    pass


class FakeIdentity:
    """Implements the evaluator's `Identity` protocol; logs every verify call."""

    def __init__(
        self,
        mspid: str,
        role: str,
        serialized: bytes,
        key: ec.EllipticCurvePublicKey,
        log: list[tuple[bytes, bytes, bytes]],
    ) -> None:
        self.mspid = mspid
        self.role = role
        self.serialized = serialized
        self._key = key
        self._log = log

    def verify(self, data: bytes, signature: bytes) -> None:
        self._log.append((self.serialized, data, signature))
        self._key.verify(signature, data, ec.ECDSA(hashes.SHA256()))


@dataclass
class FakeMsp:
    """Deserializer over the signers it has issued; counts calls for laziness tests."""

    verified: list[tuple[bytes, bytes, bytes]] = field(default_factory=list)
    deserialized: list[bytes] = field(default_factory=list)
    _issued: dict[bytes, tuple[str, str, ec.EllipticCurvePublicKey]] = field(default_factory=dict)

    def signer(self, mspid: str, role: str, name: str = "1") -> Signer:
        serialized = f"{mspid}/{role}/{name}".encode()
        scalar = int.from_bytes(hashlib.sha256(serialized).digest(), "big") % (2**255) + 1
        key = ec.derive_private_key(scalar, ec.SECP256R1())
        self._issued[serialized] = (mspid, role, key.public_key())
        return Signer(mspid, role, serialized, key)

    def with_fresh_logs(self) -> FakeMsp:
        """The same issued identities, with empty call logs."""
        return FakeMsp(_issued=self._issued)

    def deserialize_identity(self, serialized: bytes) -> FakeIdentity:
        self.deserialized.append(serialized)
        if serialized not in self._issued:
            raise UnknownIdentityError("not issued by any known MSP")
        mspid, role, key = self._issued[serialized]
        return FakeIdentity(mspid, role, serialized, key, self.verified)


@dataclass(frozen=True)
class Signer:
    mspid: str
    role: str
    serialized: bytes
    key: ec.EllipticCurvePrivateKey

    def sign(self, data: bytes = b"tx-payload") -> SignedData:
        return SignedData(self.serialized, data, self.key.sign(data, ec.ECDSA(hashes.SHA256())))

    def forge(self, data: bytes = b"tx-payload") -> SignedData:
        """A signature over other bytes, presented as a signature over `data`."""
        other = self.key.sign(data + b"-tampered", ec.ECDSA(hashes.SHA256()))
        return SignedData(self.serialized, data, other)
