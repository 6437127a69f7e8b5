"""ECDSA P-256 / SHA-256 signing, verification and key/certificate loading.

This is the one place scfchain touches `cryptography` for signatures. The rules are
Fabric's (bccsp/sw/ecdsa.go):

- signatures are DER `SEQUENCE { r INTEGER, s INTEGER }` over SHA-256 of the data;
- `sign` always returns a low-S signature (s <= n/2), normalising s to n - s;
- `verify` rejects a high-S signature even though it is mathematically valid, so a
  signature (and therefore an envelope) cannot be malleated into a second valid form.

`verify` is the hot path of validation: it takes an already-loaded public key and never
re-parses PEM. Identities (common.msp) load the key once and keep it.
"""

from __future__ import annotations

import hashlib
import os

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from common.errors import ScfError

__all__ = [
    "CURVE_ORDER",
    "HALF_CURVE_ORDER",
    "NONCE_SIZE",
    "CertificateFormatError",
    "CryptoError",
    "KeyFormatError",
    "PrivateKey",
    "PublicKey",
    "SignatureError",
    "certificate_to_pem",
    "compute_txid",
    "crl_to_pem",
    "derive_private_key",
    "fingerprint",
    "generate_private_key",
    "is_low_s",
    "load_certificate_der",
    "load_certificate_pem",
    "load_certificates_pem",
    "load_crl_pem",
    "load_private_key_pem",
    "load_public_key_pem",
    "new_nonce",
    "private_key_to_pem",
    "public_key_to_pem",
    "public_keys_equal",
    "sha256",
    "sign",
    "to_low_s",
    "verify",
]

PrivateKey = ec.EllipticCurvePrivateKey
PublicKey = ec.EllipticCurvePublicKey

#: Order n of the P-256 base point (FIPS 186-4, D.1.2.3).
CURVE_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
HALF_CURVE_ORDER = CURVE_ORDER >> 1

#: Bytes of randomness in a transaction nonce (Fabric's crypto.NonceSize).
NONCE_SIZE = 24

_CURVE = ec.SECP256R1()
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


class CryptoError(ScfError):
    """Base of the errors raised by this module."""

    code = "CRYPTO_ERROR"


class SignatureError(CryptoError):
    """A signature failed to verify.

    Codes: `MALFORMED_SIGNATURE` (not a DER ECDSA signature, or r/s out of range),
    `HIGH_S_SIGNATURE` (s > n/2: valid maths, rejected to prevent malleability),
    `BAD_SIGNATURE` (well-formed, but not made by this key over these bytes).
    """

    code = "BAD_SIGNATURE"


class KeyFormatError(CryptoError):
    """A key could not be loaded (`BAD_KEY`) or is not P-256 (`UNSUPPORTED_KEY`)."""

    code = "BAD_KEY"


class CertificateFormatError(CryptoError):
    """Certificate or CRL bytes could not be parsed (`BAD_CERTIFICATE`, `BAD_CRL`)."""

    code = "BAD_CERTIFICATE"


# --------------------------------------------------------------------------- hashing


def sha256(data: bytes) -> bytes:
    """SHA-256 digest of `data`."""
    return hashlib.sha256(data).digest()


def new_nonce() -> bytes:
    """24 fresh random bytes from the OS CSPRNG, as Fabric's `crypto.GetRandomNonce`."""
    return os.urandom(NONCE_SIZE)


def compute_txid(nonce: bytes, creator: bytes) -> str:
    """Transaction id: lowercase hex of SHA-256(nonce ‖ creator).

    `creator` is the serialized identity bytes exactly as they appear in the
    signature header; the validator recomputes this and rejects a mismatch.
    """
    return hashlib.sha256(nonce + creator).hexdigest()


# ------------------------------------------------------------------------------ keys


def generate_private_key() -> PrivateKey:
    """A fresh P-256 private key."""
    return ec.generate_private_key(_CURVE)


def derive_private_key(secret: int) -> PrivateKey:
    """The P-256 private key with scalar `secret` (1 <= secret < n).

    For deterministic tests and fixtures only; production keys come from
    `generate_private_key`.
    """
    if not 1 <= secret < CURVE_ORDER:
        raise KeyFormatError(f"private scalar must be in [1, n), got {secret}", code="BAD_KEY")
    return ec.derive_private_key(secret, _CURVE)


def _require_p256_private(key: object, what: str) -> PrivateKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyFormatError(
            f"{what} is a {type(key).__name__}; scfchain uses ECDSA P-256 keys only",
            code="UNSUPPORTED_KEY",
        )
    if not isinstance(key.curve, ec.SECP256R1):
        raise KeyFormatError(
            f"{what} is on curve {key.curve.name}; scfchain uses P-256 (secp256r1) only",
            code="UNSUPPORTED_KEY",
        )
    return key


def _require_p256_public(key: object, what: str) -> PublicKey:
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise KeyFormatError(
            f"{what} is a {type(key).__name__}; scfchain uses ECDSA P-256 keys only",
            code="UNSUPPORTED_KEY",
        )
    if not isinstance(key.curve, ec.SECP256R1):
        raise KeyFormatError(
            f"{what} is on curve {key.curve.name}; scfchain uses P-256 (secp256r1) only",
            code="UNSUPPORTED_KEY",
        )
    return key


def load_private_key_pem(data: bytes, *, source: str = "private key") -> PrivateKey:
    """Load an unencrypted PEM private key (PKCS#8 or SEC1 "EC PRIVATE KEY").

    Raises `KeyFormatError` (`BAD_KEY`) for garbage/truncated PEM and
    (`UNSUPPORTED_KEY`) for a non-P-256 key. `source` names the file in messages.
    """
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFormatError(
            f"{source}: not a readable unencrypted PEM private key ({exc})", code="BAD_KEY"
        ) from exc
    return _require_p256_private(key, source)


def load_public_key_pem(data: bytes, *, source: str = "public key") -> PublicKey:
    """Load a PEM SubjectPublicKeyInfo P-256 public key."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyFormatError(
            f"{source}: not a readable PEM public key ({exc})", code="BAD_KEY"
        ) from exc
    return _require_p256_public(key, source)


def private_key_to_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted (Fabric's keystore format)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_to_pem(key: PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# ---------------------------------------------------------------------- certificates


def load_certificate_pem(data: bytes, *, source: str = "certificate") -> x509.Certificate:
    """Parse exactly one PEM certificate (the first one if several are concatenated).

    Raises `CertificateFormatError` (`BAD_CERTIFICATE`) when there is no complete,
    parseable PEM certificate — e.g. truncated text or garbage.
    """
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise CertificateFormatError(
            f"{source}: no PEM 'BEGIN CERTIFICATE' block found", code="BAD_CERTIFICATE"
        )
    try:
        return _fully_parsed(x509.load_pem_x509_certificate(data))
    except _MALFORMED as exc:
        raise CertificateFormatError(
            f"{source}: unreadable PEM certificate, truncated or corrupt ({exc})",
            code="BAD_CERTIFICATE",
        ) from exc


def load_certificates_pem(data: bytes, *, source: str = "certificates") -> list[x509.Certificate]:
    """Parse a PEM bundle of one or more certificates; an empty bundle is an error."""
    try:
        certs = [_fully_parsed(c) for c in x509.load_pem_x509_certificates(data)]
    except _MALFORMED as exc:
        raise CertificateFormatError(
            f"{source}: unreadable PEM certificate bundle ({exc})", code="BAD_CERTIFICATE"
        ) from exc
    return certs


def load_certificate_der(data: bytes, *, source: str = "certificate") -> x509.Certificate:
    """Parse one DER certificate."""
    try:
        return _fully_parsed(x509.load_der_x509_certificate(data))
    except _MALFORMED as exc:
        raise CertificateFormatError(
            f"{source}: unreadable DER certificate ({exc})", code="BAD_CERTIFICATE"
        ) from exc


_MALFORMED = (Exception,)
"""What decoding an untrusted certificate may raise: `cryptography` has several
unrelated exception types for it (ValueError, InvalidVersion, DuplicateExtension,
UnsupportedAlgorithm, ...), and any of them means the same thing to us."""


def _fully_parsed(cert: x509.Certificate) -> x509.Certificate:
    """Touch every part `cryptography` decodes lazily, so that a malformed field
    fails here, as a named error, and not later deep inside a validation."""
    cert.subject.public_bytes()
    cert.issuer.public_bytes()
    for _extension in cert.extensions:
        pass
    cert.version  # noqa: B018
    cert.public_key()
    cert.signature_hash_algorithm  # noqa: B018 (decoding it is the point)
    cert.not_valid_before_utc  # noqa: B018
    cert.not_valid_after_utc  # noqa: B018
    return cert


def certificate_to_pem(cert: x509.Certificate) -> bytes:
    """PEM encoding of `cert`."""
    return cert.public_bytes(serialization.Encoding.PEM)


def load_crl_pem(data: bytes, *, source: str = "CRL") -> x509.CertificateRevocationList:
    """Parse one PEM CRL; raises `CertificateFormatError` (`BAD_CRL`)."""
    try:
        return x509.load_pem_x509_crl(data)
    except ValueError as exc:
        raise CertificateFormatError(
            f"{source}: unreadable PEM CRL, truncated or corrupt ({exc})", code="BAD_CRL"
        ) from exc


def crl_to_pem(crl: x509.CertificateRevocationList) -> bytes:
    """PEM encoding of `crl`."""
    return crl.public_bytes(serialization.Encoding.PEM)


# -------------------------------------------------------------------------- signing


def is_low_s(signature: bytes) -> bool:
    """Whether a DER ECDSA signature has s <= n/2. Raises on malformed input."""
    _, s = _decode(signature)
    return s <= HALF_CURVE_ORDER


def to_low_s(signature: bytes) -> bytes:
    """The low-S form of a DER ECDSA signature (unchanged if already low-S)."""
    r, s = _decode(signature)
    if s > HALF_CURVE_ORDER:
        s = CURVE_ORDER - s
    return encode_dss_signature(r, s)


def sign(key: PrivateKey, data: bytes) -> bytes:
    """ECDSA-SHA256 signature of `data` by `key`, DER encoded, low-S.

    The nonce k is random (OpenSSL), so two signatures of the same data differ; both
    verify. Tests must not compare signatures byte-for-byte.
    """
    der = key.sign(data, _ECDSA_SHA256)
    r, s = decode_dss_signature(der)
    if s > HALF_CURVE_ORDER:
        s = CURVE_ORDER - s
        der = encode_dss_signature(r, s)
    return der


def _decode(signature: bytes) -> tuple[int, int]:
    try:
        r, s = decode_dss_signature(signature)
    except (ValueError, TypeError) as exc:
        raise SignatureError(
            f"signature is not a DER ECDSA signature ({len(signature)} bytes)",
            code="MALFORMED_SIGNATURE",
        ) from exc
    if not (0 < r < CURVE_ORDER and 0 < s < CURVE_ORDER):
        raise SignatureError("signature r or s is out of range [1, n)", code="MALFORMED_SIGNATURE")
    return r, s


def verify(public_key: PublicKey, data: bytes, signature: bytes) -> None:
    """Check that `signature` is a low-S ECDSA-SHA256 signature of `data` by `public_key`.

    Returns None on success; raises `SignatureError` with code `MALFORMED_SIGNATURE`,
    `HIGH_S_SIGNATURE` or `BAD_SIGNATURE`. `data` must be the exact bytes that were
    signed (as received — never a re-serialisation).
    """
    _, s = _decode(signature)
    if s > HALF_CURVE_ORDER:
        raise SignatureError(
            "signature has high S (s > n/2); only low-S signatures are accepted",
            code="HIGH_S_SIGNATURE",
        )
    # _decode parsed strict DER (no trailing bytes, minimal integers), so OpenSSL sees
    # exactly the signature that was checked for range and low-S above.
    try:
        public_key.verify(signature, data, _ECDSA_SHA256)
    except InvalidSignature as exc:
        raise SignatureError(
            "signature does not verify against the signer's public key",
            code="BAD_SIGNATURE",
        ) from exc


def public_keys_equal(a: PublicKey, b: PublicKey) -> bool:
    """Whether two public keys are the same point (used to pair certs with keys)."""
    return a.public_numbers() == b.public_numbers()


def fingerprint(cert: x509.Certificate) -> bytes:
    """SHA-256 of the certificate's DER; a stable key for maps of certificates."""
    return cert.fingerprint(hashes.SHA256())
