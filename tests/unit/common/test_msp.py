"""common.msp: identity validation (chain, time, CRL, role), the manager and its cache."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from common import crypto
from common.msp import (
    MSP,
    CertificateAuthority,
    Identity,
    MspConfig,
    MspConfigError,
    MspError,
    MspId,
    MSPManager,
    NodeOU,
    SigningIdentity,
    serialize_identity,
)
from protos.msp import identities_pb2
from tests.support.consortium import make_org

NOW = datetime(2030, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365)
DAY = timedelta(days=1)

ROOT = CertificateAuthority.create_root(
    "ca.org1.example",
    organization="Org1MSP",
    key=crypto.derive_private_key(1001),
    not_before=NOW - YEAR,
    not_after=NOW + 10 * YEAR,
    serial=1,
)
# Same subject name as ROOT, different key: a forger's CA.
FOREIGN = CertificateAuthority.create_root(
    "ca.org1.example",
    organization="Org1MSP",
    key=crypto.derive_private_key(2002),
    not_before=NOW - YEAR,
    not_after=NOW + 10 * YEAR,
    serial=1,
)
INTER = ROOT.issue_intermediate(
    "ica.org1.example",
    organization="Org1MSP",
    key=crypto.derive_private_key(3003),
    not_before=NOW - YEAR,
    not_after=NOW + 5 * YEAR,
    serial=2,
)
USER_KEY = crypto.derive_private_key(4004)


def _pem(cert: x509.Certificate) -> bytes:
    return crypto.certificate_to_pem(cert)


def _issue(
    ca: CertificateAuthority = ROOT,
    *,
    cn: str = "User1",
    ous: Sequence[str] = ("client",),
    attrs: Mapping[str, str] | None = None,
    not_before: datetime = NOW - DAY,
    not_after: datetime = NOW + YEAR,
    serial: int = 100,
) -> x509.Certificate:
    return ca.issue(
        USER_KEY.public_key(),
        cn,
        organization="Org1MSP",
        organizational_units=ous,
        attributes=attrs,
        not_before=not_before,
        not_after=not_after,
        serial=serial,
    )


def _config(**kw: object) -> MspConfig:
    base: dict[str, object] = {"mspid": "Org1MSP", "root_certs": (_pem(ROOT.certificate),)}
    base.update(kw)
    return MspConfig(**base)  # type: ignore[arg-type]


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _manager(
    config: MspConfig | None = None, *, clock: _Clock | None = None, **kw: int
) -> MSPManager:
    return MSPManager([MSP(config or _config())], clock=clock or _Clock(NOW), **kw)


def _code(manager: MSPManager, serialized: bytes) -> str:
    with pytest.raises(MspError) as info:
        manager.deserialize_identity(serialized)
    return info.value.code


def test_valid_identity_accepted() -> None:
    cert = _issue(attrs={"hf.EnrollmentID": "User1", "role": "appraiser"})
    serialized = serialize_identity("Org1MSP", _pem(cert))
    identity = _manager().deserialize_identity(serialized)
    assert identity.mspid == "Org1MSP"
    assert identity.role is NodeOU.CLIENT
    assert identity.role.value == "client"
    assert identity.enrollment_id == "User1"
    assert identity.attributes == {"hf.EnrollmentID": "User1", "role": "appraiser"}
    assert identity.attribute("role") == "appraiser"
    assert identity.serialized == serialized
    assert identity.certificate == cert
    identity.verify(b"payload", crypto.sign(USER_KEY, b"payload"))
    with pytest.raises(crypto.SignatureError) as info:
        identity.verify(b"payload", crypto.sign(ROOT.private_key, b"payload"))
    assert info.value.code == "BAD_SIGNATURE"


@pytest.mark.parametrize("role", ["client", "peer", "orderer", "admin"])
def test_each_node_ou_role(role: str) -> None:
    identity = _manager().deserialize_identity(
        serialize_identity("Org1MSP", _pem(_issue(ous=("dept-7", role))))
    )
    assert identity.role == role


def test_truncated_pem_is_bad_certificate() -> None:
    pem = _pem(_issue())
    assert (
        _code(_manager(), serialize_identity("Org1MSP", pem[: len(pem) // 2])) == "BAD_CERTIFICATE"
    )
    assert _code(_manager(), serialize_identity("Org1MSP", b"not a cert")) == "BAD_CERTIFICATE"


def test_foreign_ca_same_name_is_untrusted() -> None:
    serialized = serialize_identity("Org1MSP", _pem(_issue(FOREIGN)))
    assert _code(_manager(), serialized) == "UNTRUSTED_CERTIFICATE"


def test_expired() -> None:
    cert = _issue(not_before=NOW - 2 * YEAR, not_after=NOW - DAY)
    assert _code(_manager(), serialize_identity("Org1MSP", _pem(cert))) == "CERTIFICATE_EXPIRED"


def test_not_yet_valid() -> None:
    cert = _issue(not_before=NOW + DAY, not_after=NOW + YEAR)
    serialized = serialize_identity("Org1MSP", _pem(cert))
    assert _code(_manager(), serialized) == "CERTIFICATE_NOT_YET_VALID"


def test_revoked_by_crl() -> None:
    cert = _issue(serial=777)
    crl = ROOT.issue_crl([(777, NOW - DAY)], this_update=NOW - DAY, next_update=NOW + YEAR)
    manager = _manager(_config(crls=(crypto.crl_to_pem(crl),)))
    assert _code(manager, serialize_identity("Org1MSP", _pem(cert))) == "CERTIFICATE_REVOKED"
    # A different serial from the same CA is unaffected.
    manager.deserialize_identity(serialize_identity("Org1MSP", _pem(_issue(serial=778))))


def test_empty_crl_revokes_nothing() -> None:
    crl = ROOT.issue_crl(this_update=NOW - DAY, next_update=NOW + YEAR)
    manager = _manager(_config(crls=(crypto.crl_to_pem(crl),)))
    manager.deserialize_identity(serialize_identity("Org1MSP", _pem(_issue())))


def test_crl_by_foreign_ca_rejected_in_config() -> None:
    crl = FOREIGN.issue_crl([(1, NOW)], this_update=NOW - DAY, next_update=NOW + YEAR)
    with pytest.raises(MspConfigError) as info:
        MSP(_config(crls=(crypto.crl_to_pem(crl),)))
    assert info.value.code == "BAD_MSP_CONFIG"


@pytest.mark.parametrize("ous", [(), ("engineering",)], ids=["no-ou", "other-ou"])
def test_missing_role(ous: Sequence[str]) -> None:
    serialized = serialize_identity("Org1MSP", _pem(_issue(ous=ous)))
    assert _code(_manager(), serialized) == "NO_ROLE"


def test_two_roles_is_ambiguous() -> None:
    serialized = serialize_identity("Org1MSP", _pem(_issue(ous=("client", "admin"))))
    assert _code(_manager(), serialized) == "AMBIGUOUS_ROLE"


def test_node_ous_disabled_gives_member_role() -> None:
    manager = _manager(_config(node_ous=False))
    identity = manager.deserialize_identity(serialize_identity("Org1MSP", _pem(_issue(ous=()))))
    assert identity.role is NodeOU.MEMBER


def test_unknown_mspid() -> None:
    serialized = serialize_identity("Org2MSP", _pem(_issue()))
    assert _code(_manager(), serialized) == "UNKNOWN_MSP"


def test_claiming_another_msp_is_untrusted() -> None:
    other_root = CertificateAuthority.create_root(
        "ca.org2.example",
        key=crypto.derive_private_key(5005),
        not_before=NOW - YEAR,
        not_after=NOW + YEAR,
        serial=9,
    )
    org2 = MSP(MspConfig(mspid="Org2MSP", root_certs=(_pem(other_root.certificate),)))  # type: ignore[arg-type]
    manager = MSPManager([MSP(_config()), org2], clock=_Clock(NOW))
    # An Org1 certificate presented as Org2MSP does not chain to Org2's CA.
    assert _code(manager, serialize_identity("Org2MSP", _pem(_issue()))) == "UNTRUSTED_CERTIFICATE"


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xff",
        b"garbage-not-proto",
        b"",
        identities_pb2.SerializedIdentity(mspid="Org1MSP").SerializeToString(),
        identities_pb2.SerializedIdentity(id_bytes=b"x").SerializeToString(),
    ],
    ids=["corrupt", "text", "empty", "no-cert", "no-mspid"],
)
def test_malformed_serialized_identity(raw: bytes) -> None:
    assert _code(_manager(), raw) == "MALFORMED_IDENTITY"


def test_ca_certificate_cannot_be_identity() -> None:
    serialized = serialize_identity("Org1MSP", _pem(INTER.certificate))
    manager = _manager(_config(intermediate_certs=(_pem(INTER.certificate),)))
    assert _code(manager, serialized) == "CA_CERTIFICATE_AS_IDENTITY"


def test_intermediate_chain_accepted() -> None:
    cert = _issue(INTER, cn="peer0", ous=("peer",))
    serialized = serialize_identity("Org1MSP", _pem(cert))
    manager = _manager(_config(intermediate_certs=(_pem(INTER.certificate),)))
    identity = manager.deserialize_identity(serialized)
    assert identity.role is NodeOU.PEER
    # The window is the chain's: the leaf outlives nothing it chains to.
    assert identity.not_after == min(
        cert.not_valid_after_utc, INTER.certificate.not_valid_after_utc
    )
    # Without the intermediate in the config the leaf does not chain.
    assert _code(_manager(), serialized) == "UNTRUSTED_CERTIFICATE"


def test_revoked_intermediate_revokes_its_leaves() -> None:
    crl = ROOT.issue_crl([(2, NOW - DAY)], this_update=NOW - DAY, next_update=NOW + YEAR)
    config = _config(intermediate_certs=(_pem(INTER.certificate),), crls=(crypto.crl_to_pem(crl),))
    serialized = serialize_identity("Org1MSP", _pem(_issue(INTER)))
    assert _code(_manager(config), serialized) == "CERTIFICATE_REVOKED"


def test_expired_intermediate_expires_leaf() -> None:
    clock = _Clock(NOW + 6 * YEAR)  # INTER ends at +5y, leaf at +7y
    cert = _issue(INTER, not_after=NOW + 7 * YEAR)
    config = _config(intermediate_certs=(_pem(INTER.certificate),))
    serialized = serialize_identity("Org1MSP", _pem(cert))
    assert _code(_manager(config, clock=clock), serialized) == "CERTIFICATE_EXPIRED"


def test_intermediate_not_chaining_to_root_rejected_in_config() -> None:
    foreign_inter = FOREIGN.issue_intermediate(
        "ica.x", key=crypto.derive_private_key(6006), not_before=NOW, not_after=NOW + YEAR
    )
    with pytest.raises(MspConfigError):
        MSP(_config(intermediate_certs=(_pem(foreign_inter.certificate),)))


def test_config_without_roots_rejected() -> None:
    with pytest.raises(MspConfigError):
        MSP(_config(root_certs=()))
    with pytest.raises(MspConfigError):
        MSP(_config(root_certs=(b"garbage",)))
    with pytest.raises(MspConfigError):  # a leaf is not a CA
        MSP(_config(root_certs=(_pem(_issue()),)))


def test_bad_attributes_extension() -> None:
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(x509.NameOID.ORGANIZATIONAL_UNIT_NAME, "client")])
        )
        .issuer_name(ROOT.certificate.subject)
        .public_key(USER_KEY.public_key())
        .serial_number(55)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4.5.6.7.8.1"), b"{not json"),
            critical=False,
        )
        .sign(ROOT.private_key, hashes.SHA256())
    )
    assert _code(_manager(), serialize_identity("Org1MSP", _pem(cert))) == "BAD_ATTRIBUTES"


def test_cache_hit_returns_same_object() -> None:
    manager = _manager()
    serialized = serialize_identity("Org1MSP", _pem(_issue()))
    first = manager.deserialize_identity(serialized)
    assert manager.deserialize_identity(serialized) is first
    assert manager.cache_len() == 1
    # Equal bytes from a different buffer hit too.
    assert manager.deserialize_identity(bytes(bytearray(serialized))) is first


def test_cached_identity_rechecked_for_expiry() -> None:
    clock = _Clock(NOW)
    manager = _manager(clock=clock)
    serialized = serialize_identity("Org1MSP", _pem(_issue(not_after=NOW + DAY)))
    manager.deserialize_identity(serialized)
    clock.now = NOW + 2 * DAY
    assert _code(manager, serialized) == "CERTIFICATE_EXPIRED"


def test_cache_is_bounded_lru() -> None:
    manager = _manager(cache_size=2)
    ids = [serialize_identity("Org1MSP", _pem(_issue(serial=s))) for s in (1001, 1002, 1003)]
    first = manager.deserialize_identity(ids[0])
    manager.deserialize_identity(ids[1])
    manager.deserialize_identity(ids[0])  # touch: ids[1] is now least recent
    manager.deserialize_identity(ids[2])
    assert manager.cache_len() == 2
    assert manager.deserialize_identity(ids[0]) is first


def test_failures_are_not_cached() -> None:
    manager = _manager()
    bad = serialize_identity("Org1MSP", _pem(_issue(FOREIGN)))
    _code(manager, bad)
    assert manager.cache_len() == 0


def test_duplicate_msp_rejected() -> None:
    with pytest.raises(MspError):
        MSPManager([MSP(_config()), MSP(_config())])


def test_identity_equality_by_serialized_bytes() -> None:
    serialized = serialize_identity("Org1MSP", _pem(_issue()))
    a = _manager().deserialize_identity(serialized)
    b = _manager().deserialize_identity(serialized)
    assert a is not b
    assert a == b
    assert hash(a) == hash(b)
    assert isinstance(a, Identity)


def _write_msp_dir(root: Path, cert: x509.Certificate, key: crypto.PrivateKey) -> None:
    (root / "msp" / "signcerts").mkdir(parents=True)
    (root / "msp" / "keystore").mkdir(parents=True)
    (root / "msp" / "cacerts").mkdir(parents=True)
    (root / "msp" / "signcerts" / "cert.pem").write_bytes(_pem(cert))
    (root / "msp" / "keystore" / "priv_sk").write_bytes(crypto.private_key_to_pem(key))
    (root / "msp" / "cacerts" / "ca-cert.pem").write_bytes(_pem(ROOT.certificate))


def test_signing_identity_from_msp_dir(tmp_path: Path) -> None:
    _write_msp_dir(tmp_path, _issue(ous=("admin",)), USER_KEY)
    # Decoy key first in sort order: the matching one is chosen.
    (tmp_path / "msp" / "keystore" / "a_sk").write_bytes(
        crypto.private_key_to_pem(crypto.derive_private_key(7007))
    )
    signer = SigningIdentity.from_msp_dir(tmp_path, "Org1MSP")
    assert signer.role is NodeOU.ADMIN
    assert signer.mspid == "Org1MSP"
    manager = MSPManager([MSP(MspConfig.from_dir(tmp_path / "msp", "Org1MSP"))], clock=_Clock(NOW))
    identity = manager.deserialize_identity(signer.serialize())
    identity.verify(b"tx", signer.sign(b"tx"))
    # The msp folder itself is accepted too.
    assert (
        SigningIdentity.from_msp_dir(tmp_path / "msp", "Org1MSP").serialize() == signer.serialize()
    )


def test_signing_identity_key_mismatch(tmp_path: Path) -> None:
    _write_msp_dir(tmp_path, _issue(), crypto.derive_private_key(8008))
    with pytest.raises(MspError) as info:
        SigningIdentity.from_msp_dir(tmp_path, "Org1MSP")
    assert info.value.code == "KEY_MISMATCH"


def test_signing_identity_missing_material(tmp_path: Path) -> None:
    with pytest.raises(MspError) as info:
        SigningIdentity.from_msp_dir(tmp_path, "Org1MSP")
    assert info.value.code == "MSP_DIR_INVALID"


def test_every_bit_flip_of_a_certificate_is_refused_by_name_or_fully_readable() -> None:
    """`cryptography` decodes fields lazily; a mangled issuer or extension must be
    refused when the certificate is loaded, not blow up later during validation."""
    org = make_org("FuzzMSP", "core")
    member = org.member("User1", "client")
    der = bytearray(member.identity.certificate.public_bytes(serialization.Encoding.DER))
    manager = MSPManager([MSP(MspConfig(MspId("FuzzMSP"), (org.ca_pem(),)))])
    refused = 0
    for position in range(len(der)):
        mutated = bytearray(der)
        mutated[position] ^= 0x01
        pem = (
            b"-----BEGIN CERTIFICATE-----\n"
            + base64.encodebytes(bytes(mutated))
            + b"-----END CERTIFICATE-----\n"
        )
        try:
            cert = crypto.load_certificate_pem(pem)
        except crypto.CertificateFormatError:
            refused += 1
            continue
        cert.subject.public_bytes()
        cert.issuer.public_bytes()
        list(cert.extensions)
        with contextlib.suppress(MspError):
            manager.deserialize_identity(serialize_identity("FuzzMSP", pem))
    assert refused > 0
