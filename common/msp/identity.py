"""Identities: a validated X.509 certificate of an MSP, and a signer holding its key.

An `Identity` is what every stage sees of a creator or endorser once `MSPManager`
has deserialized and validated it: mspid, NodeOU role, enrollment id (CN), Fabric-CA
style attributes, and the loaded public key for fast signature checks.

Fabric conventions kept here:
- the serialized form is `msp.SerializedIdentity{mspid, id_bytes = PEM certificate}`;
- the role is a NodeOU in the subject's OU (`client`, `peer`, `orderer`, `admin`);
- attributes live in the non-critical extension 1.2.3.4.5.6.7.8.1 whose value is the raw
  JSON `{"attrs": {"name": "value", ...}}` (fabric-ca `attrmgr`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import NewType

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from common import crypto
from common.msp.errors import MspError
from protos.msp import identities_pb2

__all__ = [
    "ATTRS_OID",
    "Identity",
    "MspId",
    "NodeOU",
    "SigningIdentity",
    "enrollment_id_of",
    "identity_from_certificate",
    "parse_attributes",
    "role_of",
    "serialize_identity",
]

MspId = NewType("MspId", str)

#: Fabric-CA's attribute extension OID (fabric-ca lib/attrmgr).
ATTRS_OID = x509.ObjectIdentifier("1.2.3.4.5.6.7.8.1")


class NodeOU(StrEnum):
    """NodeOU roles. Values are the subject OU strings and the policy role names.

    `MEMBER` is never written in a certificate: it is the role of every identity of an
    MSP whose config has NodeOUs disabled.
    """

    CLIENT = "client"
    PEER = "peer"
    ORDERER = "orderer"
    ADMIN = "admin"
    MEMBER = "member"


#: The roles a certificate may carry in its OU.
CERT_ROLES: frozenset[str] = frozenset({NodeOU.CLIENT, NodeOU.PEER, NodeOU.ORDERER, NodeOU.ADMIN})


@dataclass(frozen=True)
class Identity:
    """A validated identity. Equality and hash are by the exact serialized bytes.

    `not_before`/`not_after` are the validity window of the whole chain (latest
    notBefore, earliest notAfter), so a cached identity can be re-checked for expiry
    without walking the chain again.
    """

    mspid: MspId
    serialized: bytes = field(repr=False)
    role: NodeOU = field(compare=False)
    enrollment_id: str = field(compare=False)
    attributes: Mapping[str, str] = field(compare=False)
    certificate: x509.Certificate = field(compare=False, repr=False)
    public_key: crypto.PublicKey = field(compare=False, repr=False)
    not_before: datetime = field(compare=False)
    not_after: datetime = field(compare=False)

    def verify(self, data: bytes, signature: bytes) -> None:
        """Raise `crypto.SignatureError` unless `signature` is this identity's low-S
        ECDSA-SHA256 signature over exactly `data`."""
        crypto.verify(self.public_key, data, signature)

    def attribute(self, name: str) -> str | None:
        """The value of certificate attribute `name`, or None."""
        return self.attributes.get(name)

    def check_validity(self, now: datetime) -> None:
        """Raise `CERTIFICATE_NOT_YET_VALID`/`CERTIFICATE_EXPIRED` if `now` is outside
        the chain's validity window."""
        if now < self.not_before:
            raise MspError(
                f"{self.mspid} identity {self.enrollment_id!r} is not valid before "
                f"{self.not_before.isoformat()} (now {now.isoformat()}); check the clock "
                "or wait",
                code="CERTIFICATE_NOT_YET_VALID",
            )
        if now > self.not_after:
            raise MspError(
                f"{self.mspid} identity {self.enrollment_id!r} expired at "
                f"{self.not_after.isoformat()} (now {now.isoformat()}); re-enroll it",
                code="CERTIFICATE_EXPIRED",
            )


def serialize_identity(mspid: str, certificate_pem: bytes) -> bytes:
    """Fabric's `SerializedIdentity{mspid, id_bytes}` bytes for a PEM certificate."""
    message = identities_pb2.SerializedIdentity(mspid=mspid, id_bytes=certificate_pem)
    serialized: bytes = message.SerializeToString()
    return serialized


def enrollment_id_of(cert: x509.Certificate) -> str:
    """The subject CN (Fabric's enrollment id), or "" when the subject has none."""
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = cns[0].value if cns else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def role_of(cert: x509.Certificate, *, node_ous: bool = True) -> NodeOU:
    """The NodeOU role in the subject OU.

    Other OU values are ignored. Raises `NO_ROLE` when none is present and
    `AMBIGUOUS_ROLE` when several are. With `node_ous=False` every certificate is a
    `MEMBER`.
    """
    if not node_ous:
        return NodeOU.MEMBER
    ous = {
        a.value
        for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
        if isinstance(a.value, str)
    }
    roles = sorted(ous & CERT_ROLES)
    who = enrollment_id_of(cert) or cert.subject.rfc4514_string()
    if not roles:
        raise MspError(
            f"certificate of {who!r} has no NodeOU role in its subject OU (expected one "
            "of admin, client, orderer, peer); re-issue it with OU=<role>",
            code="NO_ROLE",
        )
    if len(roles) > 1:
        raise MspError(
            f"certificate of {who!r} has several NodeOU roles {roles}; an identity must "
            "have exactly one",
            code="AMBIGUOUS_ROLE",
        )
    return NodeOU(roles[0])


def parse_attributes(cert: x509.Certificate) -> Mapping[str, str]:
    """Fabric-CA attributes from extension 1.2.3.4.5.6.7.8.1; empty if absent.

    Raises `BAD_ATTRIBUTES` if the extension is not JSON `{"attrs": {str: str}}`.
    """
    try:
        ext = cert.extensions.get_extension_for_oid(ATTRS_OID)
    except x509.ExtensionNotFound:
        return MappingProxyType({})
    raw = ext.value
    value = raw.value if isinstance(raw, x509.UnrecognizedExtension) else b""
    try:
        doc = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MspError(
            f"attribute extension {ATTRS_OID.dotted_string} is not JSON: {exc}",
            code="BAD_ATTRIBUTES",
        ) from exc
    attrs = doc.get("attrs") if isinstance(doc, dict) else None
    if not isinstance(attrs, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attrs.items()
    ):
        raise MspError(
            f'attribute extension {ATTRS_OID.dotted_string} must be {{"attrs": {{name: string}}}}',
            code="BAD_ATTRIBUTES",
        )
    return MappingProxyType(dict(attrs))


def identity_from_certificate(
    mspid: str,
    cert: x509.Certificate,
    serialized: bytes,
    *,
    node_ous: bool = True,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Identity:
    """Build an `Identity` from a certificate WITHOUT chain validation.

    `MSP.deserialize` calls this after validating; `SigningIdentity.from_msp_dir` calls it
    for local material it trusts. The window defaults to the certificate's own.
    """
    public_key = _public_key(cert)
    return Identity(
        mspid=MspId(mspid),
        serialized=serialized,
        role=role_of(cert, node_ous=node_ous),
        enrollment_id=enrollment_id_of(cert),
        attributes=parse_attributes(cert),
        certificate=cert,
        public_key=public_key,
        not_before=not_before or cert.not_valid_before_utc,
        not_after=not_after or cert.not_valid_after_utc,
    )


@dataclass(frozen=True)
class SigningIdentity:
    """An identity together with its private key: what a client or node signs with."""

    identity: Identity
    private_key: crypto.PrivateKey = field(repr=False)

    @property
    def mspid(self) -> MspId:
        return self.identity.mspid

    @property
    def role(self) -> NodeOU:
        return self.identity.role

    def serialize(self) -> bytes:
        """The SerializedIdentity bytes used as `creator`/`endorser`."""
        return self.identity.serialized

    def sign(self, data: bytes) -> bytes:
        """Low-S DER ECDSA-SHA256 signature of `data`."""
        return crypto.sign(self.private_key, data)

    @classmethod
    def from_pem(
        cls, mspid: str, certificate_pem: bytes, key_pem: bytes, *, node_ous: bool = True
    ) -> SigningIdentity:
        """Pair a PEM certificate with its PEM private key; raises `KEY_MISMATCH` if the
        key is not the certificate's."""
        cert = crypto.load_certificate_pem(certificate_pem, source="signing certificate")
        key = crypto.load_private_key_pem(key_pem, source="signing key")
        return cls.from_certificate(mspid, cert, key, node_ous=node_ous)

    @classmethod
    def from_certificate(
        cls,
        mspid: str,
        cert: x509.Certificate,
        key: crypto.PrivateKey,
        *,
        node_ous: bool = True,
    ) -> SigningIdentity:
        """Pair a loaded certificate and key; raises `KEY_MISMATCH` if they differ."""
        identity = identity_from_certificate(
            mspid,
            cert,
            serialize_identity(mspid, crypto.certificate_to_pem(cert)),
            node_ous=node_ous,
        )
        if not crypto.public_keys_equal(key.public_key(), identity.public_key):
            raise MspError(
                f"the private key does not belong to the certificate of {identity.enrollment_id!r}",
                code="KEY_MISMATCH",
            )
        return cls(identity=identity, private_key=key)

    @classmethod
    def from_msp_dir(
        cls, path: str | Path, mspid: str, *, node_ous: bool = True
    ) -> SigningIdentity:
        """Load Fabric's local MSP layout: `signcerts/*.pem` and `keystore/*_sk`.

        `path` may be the `msp` folder itself or its parent. With several keys in the
        keystore, the one matching the certificate is used. Raises `MSP_DIR_INVALID`
        naming the missing piece, or `KEY_MISMATCH`.
        """
        root = Path(path)
        if not (root / "signcerts").is_dir() and (root / "msp" / "signcerts").is_dir():
            root = root / "msp"
        certs = sorted((root / "signcerts").glob("*.pem"))
        if len(certs) != 1:
            raise MspError(
                f"{root / 'signcerts'}: expected exactly one *.pem certificate, found "
                f"{len(certs)}; is this an msp folder (run 'scf crypto generate')?",
                code="MSP_DIR_INVALID",
            )
        keys = sorted((root / "keystore").glob("*_sk"))
        if not keys:
            raise MspError(
                f"{root / 'keystore'}: no *_sk private key found",
                code="MSP_DIR_INVALID",
            )
        cert = crypto.load_certificate_pem(certs[0].read_bytes(), source=str(certs[0]))
        for key_path in keys:
            key = crypto.load_private_key_pem(key_path.read_bytes(), source=str(key_path))
            if crypto.public_keys_equal(key.public_key(), _public_key(cert)):
                return cls.from_certificate(mspid, cert, key, node_ous=node_ous)
        raise MspError(
            f"{root / 'keystore'}: no key matches the certificate {certs[0]}",
            code="KEY_MISMATCH",
        )


def _public_key(cert: x509.Certificate) -> crypto.PublicKey:
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise MspError(
            f"certificate of {enrollment_id_of(cert)!r} does not hold an ECDSA P-256 key",
            code="UNSUPPORTED_KEY",
        )
    return key
