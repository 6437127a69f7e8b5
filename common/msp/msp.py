"""One organisation's MSP: which certificates count as identities of that org.

An `MSP` is built once from an `MspConfig` (trusted roots, intermediates, CRLs, TLS
roots, NodeOU switch) and is immutable; a channel-config update builds a new one.
`validate` implements Fabric's bccsp-msp checks in this order:

1. the certificate is not a CA certificate;
2. it chains to one of the roots, verifying each signature up the chain
   (intermediates allowed);
3. `now` is inside the validity of every certificate in the chain;
4. no certificate in the chain is listed in a CRL issued by its issuer;
5. it carries exactly one NodeOU role (when NodeOUs are enabled).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from common import crypto
from common.msp.errors import MspConfigError, MspError
from common.msp.identity import Identity, MspId, enrollment_id_of, identity_from_certificate

__all__ = ["MAX_CHAIN_DEPTH", "MSP", "MspConfig"]

#: Longest chain accepted (leaf + intermediates + root); guards against loops.
MAX_CHAIN_DEPTH = 8


@dataclass(frozen=True)
class MspConfig:
    """What a channel config (or a local msp folder) says about one org. PEM throughout.

    `crls` must each be issued (and signed) by one of the root or intermediate CAs.
    """

    mspid: MspId
    root_certs: tuple[bytes, ...]
    intermediate_certs: tuple[bytes, ...] = ()
    crls: tuple[bytes, ...] = ()
    tls_root_certs: tuple[bytes, ...] = ()
    tls_intermediate_certs: tuple[bytes, ...] = ()
    node_ous: bool = True

    @classmethod
    def from_dir(cls, path: str | Path, mspid: str, *, node_ous: bool = True) -> MspConfig:
        """Read Fabric's msp folder: cacerts/, intermediatecerts/, crls/, tlscacerts/,
        tlsintermediatecerts/ (every *.pem in each; missing folders are empty)."""
        root = Path(path)

        def pems(sub: str) -> tuple[bytes, ...]:
            folder = root / sub
            if not folder.is_dir():
                return ()
            return tuple(p.read_bytes() for p in sorted(folder.glob("*.pem")))

        return cls(
            mspid=MspId(mspid),
            root_certs=pems("cacerts"),
            intermediate_certs=pems("intermediatecerts"),
            crls=pems("crls"),
            tls_root_certs=pems("tlscacerts"),
            tls_intermediate_certs=pems("tlsintermediatecerts"),
            node_ous=node_ous,
        )


def _describe(cert: x509.Certificate) -> str:
    return enrollment_id_of(cert) or cert.subject.rfc4514_string()


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


class MSP:
    """A validating MSP for one org. Thread-safe (immutable after construction)."""

    def __init__(self, config: MspConfig) -> None:
        """Parse and cross-check the config; raises `MspConfigError` (`BAD_MSP_CONFIG`)."""
        if not config.mspid:
            raise MspConfigError("MSP config has an empty mspid")
        if not config.root_certs:
            raise MspConfigError(f"MSP {config.mspid} has no root CA certificates")
        self._config = config
        self._roots = [self._load_ca(p, "root CA") for p in config.root_certs]
        self._root_fps = {crypto.fingerprint(c) for c in self._roots}
        self._intermediates = [
            self._load_ca(p, "intermediate CA") for p in config.intermediate_certs
        ]
        self._tls_roots = tuple(self._load_ca(p, "TLS root CA") for p in config.tls_root_certs)
        self._tls_intermediates = tuple(
            self._load_ca(p, "TLS intermediate CA") for p in config.tls_intermediate_certs
        )
        self._by_subject: dict[bytes, list[x509.Certificate]] = {}
        for ca in [*self._roots, *self._intermediates]:
            self._by_subject.setdefault(ca.subject.public_bytes(), []).append(ca)
        for root in self._roots:
            if not _issued_by(root, root):
                raise MspConfigError(
                    f"MSP {config.mspid}: root CA {_describe(root)!r} is not self-signed"
                )
        for inter in self._intermediates:
            try:
                self._chain(inter)
            except MspError as exc:
                raise MspConfigError(
                    f"MSP {config.mspid}: intermediate CA {_describe(inter)!r} does not "
                    f"chain to a root CA of the MSP ({exc.message})"
                ) from exc
        self._revoked: dict[bytes, frozenset[int]] = self._load_crls(config.crls)

    def _load_ca(self, pem: bytes, what: str) -> x509.Certificate:
        try:
            cert = crypto.load_certificate_pem(pem, source=f"MSP {self._config.mspid} {what}")
        except crypto.CertificateFormatError as exc:
            raise MspConfigError(exc.message) from exc
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise MspConfigError(
                f"MSP {self._config.mspid}: {what} {_describe(cert)!r} is not a CA "
                "certificate (BasicConstraints CA:TRUE missing)"
            )
        return cert

    def _load_crls(self, pems: Sequence[bytes]) -> dict[bytes, frozenset[int]]:
        revoked: dict[bytes, set[int]] = {}
        for pem in pems:
            try:
                crl = crypto.load_crl_pem(pem, source=f"MSP {self._config.mspid} CRL")
            except crypto.CertificateFormatError as exc:
                raise MspConfigError(exc.message) from exc
            issuer = next(
                (
                    ca
                    for ca in self._by_subject.get(crl.issuer.public_bytes(), [])
                    if crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
                ),
                None,
            )
            if issuer is None:
                raise MspConfigError(
                    f"MSP {self._config.mspid}: a CRL issued by "
                    f"{crl.issuer.rfc4514_string()!r} is not signed by any CA of this MSP"
                )
            serials = revoked.setdefault(crypto.fingerprint(issuer), set())
            serials.update(entry.serial_number for entry in crl)
        return {fp: frozenset(s) for fp, s in revoked.items()}

    @property
    def mspid(self) -> MspId:
        return self._config.mspid

    @property
    def config(self) -> MspConfig:
        return self._config

    @property
    def node_ous(self) -> bool:
        return self._config.node_ous

    @property
    def root_certificates(self) -> tuple[x509.Certificate, ...]:
        return tuple(self._roots)

    @property
    def tls_root_certificates(self) -> tuple[x509.Certificate, ...]:
        """TLS roots (and TLS intermediates after them), for building TLS trust stores."""
        return self._tls_roots + self._tls_intermediates

    def _chain(self, cert: x509.Certificate) -> list[x509.Certificate]:
        """[cert, issuer, ..., root]; raises `UNTRUSTED_CERTIFICATE`."""
        chain = [cert]
        current = cert
        while crypto.fingerprint(current) not in self._root_fps:
            if len(chain) >= MAX_CHAIN_DEPTH:
                raise MspError(
                    f"certificate {_describe(cert)!r}: chain longer than {MAX_CHAIN_DEPTH}",
                    code="UNTRUSTED_CERTIFICATE",
                )
            candidates = self._by_subject.get(current.issuer.public_bytes(), [])
            issuer = next((ca for ca in candidates if _issued_by(current, ca)), None)
            if issuer is None:
                raise MspError(
                    f"certificate {_describe(cert)!r} (issuer "
                    f"{current.issuer.rfc4514_string()!r}) does not chain to a CA of MSP "
                    f"{self.mspid}; it was issued by a foreign or unknown CA",
                    code="UNTRUSTED_CERTIFICATE",
                )
            chain.append(issuer)
            current = issuer
        return chain

    def validate(self, cert: x509.Certificate, now: datetime) -> tuple[datetime, datetime]:
        """Validate `cert` as an identity of this MSP at time `now` (timezone-aware UTC).

        Returns the chain's validity window `(latest notBefore, earliest notAfter)`.
        Raises `MspError` with the codes listed in the module docstring; role is checked
        by `deserialize`.
        """
        try:
            basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            basic = None
        if basic is not None and basic.ca:
            raise MspError(
                f"certificate {_describe(cert)!r} is a CA certificate and cannot be used "
                "as an identity",
                code="CA_CERTIFICATE_AS_IDENTITY",
            )
        chain = self._chain(cert)
        for link in chain:
            if now < link.not_valid_before_utc:
                raise MspError(
                    f"certificate {_describe(link)!r} in the chain of {_describe(cert)!r} is "
                    f"not valid before {link.not_valid_before_utc.isoformat()} (now "
                    f"{now.isoformat()}); check the clock",
                    code="CERTIFICATE_NOT_YET_VALID",
                )
            if now > link.not_valid_after_utc:
                raise MspError(
                    f"certificate {_describe(link)!r} in the chain of {_describe(cert)!r} "
                    f"expired at {link.not_valid_after_utc.isoformat()}; re-enroll or "
                    "renew it",
                    code="CERTIFICATE_EXPIRED",
                )
        for link, issuer in itertools.pairwise(chain):
            if link.serial_number in self._revoked.get(crypto.fingerprint(issuer), frozenset()):
                raise MspError(
                    f"certificate {_describe(link)!r} (serial {link.serial_number:x}) is "
                    f"revoked by a CRL of {_describe(issuer)!r} in MSP {self.mspid}",
                    code="CERTIFICATE_REVOKED",
                )
        return (
            max(link.not_valid_before_utc for link in chain),
            min(link.not_valid_after_utc for link in chain),
        )

    def deserialize(self, serialized: bytes, id_bytes: bytes, now: datetime) -> Identity:
        """Parse `id_bytes` (PEM), validate it, and build the `Identity` whose
        `serialized` is exactly `serialized`. Raises `MspError`."""
        try:
            cert = crypto.load_certificate_pem(id_bytes, source=f"identity of {self.mspid}")
        except crypto.CertificateFormatError as exc:
            raise MspError(exc.message, code="BAD_CERTIFICATE") from exc
        not_before, not_after = self.validate(cert, now)
        return identity_from_certificate(
            self.mspid,
            cert,
            serialized,
            node_ous=self.node_ous,
            not_before=not_before,
            not_after=not_after,
        )
