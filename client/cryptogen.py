"""Crypto material for a network.yaml, in Fabric's cryptogen layout.

Per org: a signing CA and a TLS CA (P-256, self-signed), an empty CRL for each, and the
org's verifying MSP folder. Per node and user: an enrollment certificate from the CA
(NodeOU role in the subject OU, Fabric-CA attributes extension) and a TLS certificate
from the TLS CA. Layout (DIR = --out)::

    DIR/orgs/<org>/ca/{ca-cert.pem, priv_sk, crl.pem}
    DIR/orgs/<org>/tlsca/{tlsca-cert.pem, priv_sk, crl.pem}
    DIR/orgs/<org>/msp/{cacerts/ca-cert.pem, tlscacerts/tlsca-cert.pem,
                        crls/ca-crl.pem, config.yaml}
    DIR/orgs/<org>/{peers,orderers,users}/<name>/
        msp/{signcerts/cert.pem, keystore/priv_sk, cacerts/ca-cert.pem,
             tlscacerts/tlsca-cert.pem, config.yaml}
        tls/{ca.crt, server.crt, server.key}     (nodes)
        tls/{ca.crt, client.crt, client.key}     (users)

Private keys are created with mode 0600 and every file is written atomically.
Generation is idempotent: an existing file is kept unless `force`; a kept leaf that no
longer chains to the (kept or new) CA is re-issued, so the folder is always consistent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from client.netconfig import NetworkConfig, OrgConfig
from common import crypto
from common.errors import ScfError
from common.msp.ca import CertificateAuthority

__all__ = [
    "MSP_CONFIG_YAML",
    "CryptogenError",
    "GenerateReport",
    "generate",
    "node_dir",
    "org_dir",
    "user_dir",
]

CA_VALIDITY = timedelta(days=3650)
LEAF_VALIDITY = timedelta(days=3650)
#: Certificates start a little in the past so small clock skew between hosts is harmless.
BACKDATE = timedelta(minutes=5)
CRL_VALIDITY = timedelta(days=365)

#: Fabric's msp/config.yaml enabling NodeOUs, pointing at cacerts/ca-cert.pem.
MSP_CONFIG_YAML = """\
NodeOUs:
  Enable: true
  ClientOUIdentifier:
    Certificate: cacerts/ca-cert.pem
    OrganizationalUnitIdentifier: client
  PeerOUIdentifier:
    Certificate: cacerts/ca-cert.pem
    OrganizationalUnitIdentifier: peer
  AdminOUIdentifier:
    Certificate: cacerts/ca-cert.pem
    OrganizationalUnitIdentifier: admin
  OrdererOUIdentifier:
    Certificate: cacerts/ca-cert.pem
    OrganizationalUnitIdentifier: orderer
"""


class CryptogenError(ScfError):
    """Material could not be generated (`CRYPTOGEN_FAILED`), e.g. unwritable folder or an
    existing CA key that cannot be read."""

    code = "CRYPTOGEN_FAILED"


@dataclass
class GenerateReport:
    """What `generate` did: files written and files kept as they were."""

    created: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def org_dir(out: Path, org: OrgConfig) -> Path:
    return out / "orgs" / org.name


def node_dir(out: Path, org: OrgConfig, name: str) -> Path:
    kind = "orderers" if any(o.name == name for o in org.orderers) else "peers"
    return org_dir(out, org) / kind / name


def user_dir(out: Path, org: OrgConfig, name: str) -> Path:
    return org_dir(out, org) / "users" / name


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Atomically replace `path` with `data`; private files get mode 0600 from creation."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    try:
        if private:
            os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a leftover tmp file
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class _Generator:
    def __init__(self, out: Path, force: bool, now: datetime) -> None:
        self.out = out
        self.force = force
        self.now = now
        self.report = GenerateReport()

    def put(self, path: Path, data: bytes, *, private: bool = False) -> None:
        _write(path, data, private=private)
        self.report.created.append(path)

    def ca(self, folder: Path, cert_name: str, common_name: str, org: str) -> CertificateAuthority:
        cert_path, key_path = folder / cert_name, folder / "priv_sk"
        if cert_path.exists() and key_path.exists() and not self.force:
            try:
                cert = crypto.load_certificate_pem(cert_path.read_bytes(), source=str(cert_path))
                key = crypto.load_private_key_pem(key_path.read_bytes(), source=str(key_path))
            except crypto.CryptoError as exc:
                raise CryptogenError(
                    f"{exc.message}; delete {folder} or rerun with --force"
                ) from exc
            if crypto.public_keys_equal(key.public_key(), _pub(cert)):
                self.report.kept += [cert_path, key_path]
                ca = CertificateAuthority(certificate=cert, private_key=key)
                self._crl(folder, ca, fresh=False)
                return ca
        ca = CertificateAuthority.create_root(
            common_name,
            organization=org,
            not_before=self.now - BACKDATE,
            not_after=self.now + CA_VALIDITY,
        )
        self.put(key_path, crypto.private_key_to_pem(ca.private_key), private=True)
        self.put(cert_path, crypto.certificate_to_pem(ca.certificate))
        self._crl(folder, ca, fresh=True)
        return ca

    def _crl(self, folder: Path, ca: CertificateAuthority, *, fresh: bool) -> None:
        path = folder / "crl.pem"
        if path.exists() and not fresh and not self.force:
            self.report.kept.append(path)
            return
        crl = ca.issue_crl(this_update=self.now - BACKDATE, next_update=self.now + CRL_VALIDITY)
        self.put(path, crypto.crl_to_pem(crl))

    def leaf(
        self,
        cert_path: Path,
        key_path: Path,
        issue: Callable[[crypto.PublicKey], x509.Certificate],
        issuer: CertificateAuthority,
    ) -> None:
        """Keep an existing (cert, key) that matches and chains to `issuer`, else issue."""
        if cert_path.exists() and key_path.exists() and not self.force:
            try:
                cert = crypto.load_certificate_pem(cert_path.read_bytes())
                key = crypto.load_private_key_pem(key_path.read_bytes())
                ok = crypto.public_keys_equal(key.public_key(), _pub(cert))
                cert.verify_directly_issued_by(issuer.certificate)
            except (crypto.CryptoError, ValueError, TypeError, InvalidSignature):
                ok = False  # unreadable, mismatched or from another CA: re-issue
            if ok:
                self.report.kept += [cert_path, key_path]
                return
        key = crypto.generate_private_key()
        cert = issue(key.public_key())
        self.put(key_path, crypto.private_key_to_pem(key), private=True)
        self.put(cert_path, crypto.certificate_to_pem(cert))

    def copy(self, path: Path, data: bytes) -> None:
        """Write a public copy (CA cert, config) if missing, different, or forced."""
        if not self.force and path.exists() and path.read_bytes() == data:
            self.report.kept.append(path)
        else:
            self.put(path, data)


def _pub(cert: x509.Certificate) -> crypto.PublicKey:
    key = cert.public_key()
    if not isinstance(key, crypto.PublicKey):
        raise CryptogenError("certificate does not hold an ECDSA key")
    return key


def _sans(host: str, fqdn: str, name: str) -> Sequence[str]:
    return [host, fqdn, name, "localhost", "127.0.0.1"]


def generate(
    config: NetworkConfig, out: str | Path, *, force: bool = False, now: datetime | None = None
) -> GenerateReport:
    """Generate (or complete) the crypto material of every org in `config` under `out`.

    `now` fixes certificate times (tests); default is the wall clock. Raises
    `CryptogenError` on an unreadable existing CA or an OS error.
    """
    gen = _Generator(Path(out), force, now or datetime.now(UTC))
    try:
        for org in config.orgs:
            _generate_org(gen, org)
    except OSError as exc:
        raise CryptogenError(f"cannot write crypto material under {out}: {exc}") from exc
    return gen.report


def _generate_org(gen: _Generator, org: OrgConfig) -> None:
    base = org_dir(gen.out, org)
    ca = gen.ca(base / "ca", "ca-cert.pem", f"ca.{org.domain}", org.mspid)
    tlsca = gen.ca(base / "tlsca", "tlsca-cert.pem", f"tlsca.{org.domain}", org.mspid)
    ca_pem = crypto.certificate_to_pem(ca.certificate)
    tlsca_pem = crypto.certificate_to_pem(tlsca.certificate)
    crl_pem = (base / "ca" / "crl.pem").read_bytes()

    gen.copy(base / "msp" / "cacerts" / "ca-cert.pem", ca_pem)
    gen.copy(base / "msp" / "tlscacerts" / "tlsca-cert.pem", tlsca_pem)
    gen.copy(base / "msp" / "crls" / "ca-crl.pem", crl_pem)
    gen.copy(base / "msp" / "config.yaml", MSP_CONFIG_YAML.encode())

    not_before, not_after = gen.now - BACKDATE, gen.now + LEAF_VALIDITY
    members: list[tuple[Path, str, str, dict[str, str], bool]] = []
    for peer in org.peers:
        members.append((base / "peers" / peer.name, peer.name, "peer", {}, True))
    for orderer in org.orderers:
        members.append((base / "orderers" / orderer.name, orderer.name, "orderer", {}, True))
    for user in org.users:
        members.append(
            (base / "users" / user.name, user.name, user.role.value, dict(user.attributes), False)
        )
    hosts = {p.name: p.host for p in org.peers} | {o.name: o.host for o in org.orderers}

    for folder, name, role, attrs, is_node in members:
        fqdn = org.fqdn(name)
        msp = folder / "msp"
        gen.copy(msp / "cacerts" / "ca-cert.pem", ca_pem)
        gen.copy(msp / "tlscacerts" / "tlsca-cert.pem", tlsca_pem)
        gen.copy(msp / "config.yaml", MSP_CONFIG_YAML.encode())
        enrollment_attrs = {"hf.EnrollmentID": name, "hf.Type": role, **attrs}

        def enroll(
            public_key: crypto.PublicKey,
            name: str = name,
            role: str = role,
            attrs: dict[str, str] = enrollment_attrs,
        ) -> x509.Certificate:
            return ca.issue(
                public_key,
                name,
                organization=org.mspid,
                organizational_units=[role],
                attributes=attrs,
                not_before=not_before,
                not_after=not_after,
            )

        gen.leaf(msp / "signcerts" / "cert.pem", msp / "keystore" / "priv_sk", enroll, ca)

        tls = folder / "tls"
        gen.copy(tls / "ca.crt", tlsca_pem)
        side = "server" if is_node else "client"
        sans = _sans(hosts[name], fqdn, name) if is_node else [fqdn, name]

        def tls_cert(
            public_key: crypto.PublicKey,
            fqdn: str = fqdn,
            sans: Sequence[str] = sans,
            is_node: bool = is_node,
        ) -> x509.Certificate:
            return tlsca.issue(
                public_key,
                fqdn,
                organization=org.mspid,
                sans=sans,
                server_auth=is_node,
                client_auth=True,
                not_before=not_before,
                not_after=not_after,
            )

        gen.leaf(tls / f"{side}.crt", tls / f"{side}.key", tls_cert, tlsca)
