"""common.crypto: low-S ECDSA P-256, txid, nonce, PEM loading with named errors."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from common import crypto
from common.msp.ca import CertificateAuthority

KEY = crypto.derive_private_key(0xA11CE)
OTHER = crypto.derive_private_key(0xB0B)
DATA = b"supply-chain finance"


def _flip_s(signature: bytes) -> bytes:
    r, s = decode_dss_signature(signature)
    return encode_dss_signature(r, crypto.CURVE_ORDER - s)


def test_sign_then_verify() -> None:
    sig = crypto.sign(KEY, DATA)
    crypto.verify(KEY.public_key(), DATA, sig)


def test_sign_always_low_s() -> None:
    for i in range(64):
        sig = crypto.sign(KEY, DATA + bytes([i]))
        assert crypto.is_low_s(sig)
        _, s = decode_dss_signature(sig)
        assert s <= crypto.HALF_CURVE_ORDER


def test_high_s_rejected_though_mathematically_valid() -> None:
    high = _flip_s(crypto.sign(KEY, DATA))
    # The flipped signature is valid ECDSA: OpenSSL accepts it ...
    KEY.public_key().verify(high, DATA, ec.ECDSA(hashes.SHA256()))
    # ... but we reject it to stop malleability.
    with pytest.raises(crypto.SignatureError) as info:
        crypto.verify(KEY.public_key(), DATA, high)
    assert info.value.code == "HIGH_S_SIGNATURE"
    assert not crypto.is_low_s(high)
    assert crypto.to_low_s(high) == encode_dss_signature(*decode_dss_signature(_flip_s(high)))


def test_wrong_key_rejected() -> None:
    sig = crypto.sign(KEY, DATA)
    with pytest.raises(crypto.SignatureError) as info:
        crypto.verify(OTHER.public_key(), DATA, sig)
    assert info.value.code == "BAD_SIGNATURE"


def test_wrong_data_rejected() -> None:
    sig = crypto.sign(KEY, DATA)
    with pytest.raises(crypto.SignatureError) as info:
        crypto.verify(KEY.public_key(), DATA + b"!", sig)
    assert info.value.code == "BAD_SIGNATURE"


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda s: b"", id="empty"),
        pytest.param(lambda s: b"not a signature", id="garbage"),
        pytest.param(lambda s: s[:-3], id="truncated"),
        pytest.param(lambda s: s + b"\x00", id="trailing-byte"),
        pytest.param(lambda s: encode_dss_signature(0, 5), id="r-zero"),
        pytest.param(lambda s: encode_dss_signature(5, crypto.CURVE_ORDER), id="s-equals-n"),
    ],
)
def test_malformed_signature_rejected(mangle: object) -> None:
    sig = crypto.sign(KEY, DATA)
    assert callable(mangle)
    with pytest.raises(crypto.SignatureError) as info:
        crypto.verify(KEY.public_key(), DATA, mangle(sig))
    assert info.value.code == "MALFORMED_SIGNATURE"


def test_garbled_signature_bytes_rejected() -> None:
    sig = bytearray(crypto.sign(KEY, DATA))
    sig[-1] ^= 0x01  # still DER, wrong value
    with pytest.raises(crypto.SignatureError) as info:
        crypto.verify(KEY.public_key(), DATA, bytes(sig))
    assert info.value.code in {"BAD_SIGNATURE", "HIGH_S_SIGNATURE", "MALFORMED_SIGNATURE"}


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.binary(max_size=512))
def test_roundtrip_any_data(data: bytes) -> None:
    sig = crypto.sign(KEY, data)
    assert crypto.is_low_s(sig)
    crypto.verify(KEY.public_key(), data, sig)


def test_txid_is_sha256_of_nonce_then_creator() -> None:
    nonce, creator = b"\x01" * 24, b"creator-bytes"
    txid = crypto.compute_txid(nonce, creator)
    assert txid == hashlib.sha256(nonce + creator).hexdigest()
    assert len(txid) == 64
    assert txid == txid.lower()
    assert crypto.compute_txid(nonce, creator + b"x") != txid


def test_nonce_is_24_random_bytes() -> None:
    a, b = crypto.new_nonce(), crypto.new_nonce()
    assert len(a) == crypto.NONCE_SIZE == 24
    assert a != b


def test_private_key_pem_roundtrip() -> None:
    pem = crypto.private_key_to_pem(KEY)
    loaded = crypto.load_private_key_pem(pem)
    assert crypto.public_keys_equal(loaded.public_key(), KEY.public_key())
    pub = crypto.load_public_key_pem(crypto.public_key_to_pem(KEY.public_key()))
    crypto.verify(pub, DATA, crypto.sign(loaded, DATA))


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage", b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n"],
    ids=["empty", "garbage", "truncated"],
)
def test_bad_private_key_pem(data: bytes) -> None:
    with pytest.raises(crypto.KeyFormatError) as info:
        crypto.load_private_key_pem(data, source="keystore/priv_sk")
    assert info.value.code == "BAD_KEY"
    assert "keystore/priv_sk" in info.value.message


def test_non_p256_key_unsupported() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    pem = p384.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(crypto.KeyFormatError) as info:
        crypto.load_private_key_pem(pem)
    assert info.value.code == "UNSUPPORTED_KEY"


def test_derive_private_key_range() -> None:
    with pytest.raises(crypto.KeyFormatError):
        crypto.derive_private_key(0)


def _cert_pem() -> bytes:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    ca = CertificateAuthority.create_root(
        "ca.test", key=KEY, not_before=now, not_after=now + timedelta(days=1), serial=1
    )
    return crypto.certificate_to_pem(ca.certificate)


def test_certificate_pem_load_and_der() -> None:
    pem = _cert_pem()
    cert = crypto.load_certificate_pem(pem)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert crypto.load_certificate_der(der) == cert
    assert crypto.load_certificates_pem(pem + pem) == [cert, cert]
    assert crypto.fingerprint(cert) == hashlib.sha256(der).digest()


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_certificate_pem(cut: float) -> None:
    pem = _cert_pem()
    with pytest.raises(crypto.CertificateFormatError) as info:
        crypto.load_certificate_pem(pem[: int(len(pem) * cut)])
    assert info.value.code == "BAD_CERTIFICATE"


def test_garbage_certificate_and_crl() -> None:
    with pytest.raises(crypto.CertificateFormatError) as info:
        crypto.load_certificate_pem(b"hello")
    assert info.value.code == "BAD_CERTIFICATE"
    with pytest.raises(crypto.CertificateFormatError) as info:
        crypto.load_certificate_der(b"\x30\x03\x02\x01")
    assert info.value.code == "BAD_CERTIFICATE"
    with pytest.raises(crypto.CertificateFormatError) as info:
        crypto.load_crl_pem(b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
    assert info.value.code == "BAD_CRL"
    with pytest.raises(crypto.CertificateFormatError):
        crypto.load_certificates_pem(b"")
