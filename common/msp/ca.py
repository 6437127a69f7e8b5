"""A minimal certificate authority: self-signed roots, intermediates, leaves and CRLs.

Used by `scf crypto generate` (client.cryptogen) and by tests to build MSPs. It issues
what Fabric's cryptogen/fabric-ca issue: P-256 keys, ECDSA-SHA256 signatures, NodeOU
roles in the subject OU and Fabric-CA attributes in extension 1.2.3.4.5.6.7.8.1.
All times are explicit arguments so fixtures are deterministic.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from common import crypto
from common.msp.identity import ATTRS_OID

__all__ = ["CertificateAuthority", "attributes_extension_value", "subject_name"]

_SHA256 = hashes.SHA256()


def subject_name(
    common_name: str,
    *,
    organization: str | None = None,
    organizational_units: Sequence[str] = (),
    country: str | None = None,
) -> x509.Name:
    """An X.509 name in cryptogen's order: C, O, OU..., CN."""
    attrs: list[x509.NameAttribute[str]] = []
    if country:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attrs.extend(
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou) for ou in organizational_units
    )
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def attributes_extension_value(attributes: Mapping[str, str]) -> bytes:
    """fabric-ca's encoding: compact JSON `{"attrs": {...}}` with sorted keys."""
    return json.dumps({"attrs": dict(attributes)}, sort_keys=True, separators=(",", ":")).encode()


def _general_names(sans: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for san in dict.fromkeys(sans):  # de-duplicate, keep order
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            names.append(x509.DNSName(san))
    return names


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """Signing only; a CA also signs certificates and CRLs."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA certificate with its private key. Immutable; issuing does not change it."""

    certificate: x509.Certificate
    private_key: crypto.PrivateKey = field(repr=False)

    @classmethod
    def create_root(
        cls,
        common_name: str,
        *,
        not_before: datetime,
        not_after: datetime,
        organization: str | None = None,
        key: crypto.PrivateKey | None = None,
        serial: int | None = None,
    ) -> CertificateAuthority:
        """A self-signed root: CA:TRUE, keyCertSign + cRLSign + digitalSignature."""
        key = key or crypto.generate_private_key()
        name = subject_name(common_name, organization=organization)
        cert = cls._ca_builder(
            name, name, key.public_key(), key.public_key(), not_before, not_after, serial
        ).sign(key, _SHA256)
        return cls(certificate=cert, private_key=key)

    def issue_intermediate(
        self,
        common_name: str,
        *,
        not_before: datetime,
        not_after: datetime,
        organization: str | None = None,
        key: crypto.PrivateKey | None = None,
        serial: int | None = None,
    ) -> CertificateAuthority:
        """An intermediate CA signed by this CA."""
        key = key or crypto.generate_private_key()
        name = subject_name(common_name, organization=organization)
        cert = self._ca_builder(
            name,
            self.certificate.subject,
            key.public_key(),
            self.private_key.public_key(),
            not_before,
            not_after,
            serial,
        ).sign(self.private_key, _SHA256)
        return CertificateAuthority(certificate=cert, private_key=key)

    @staticmethod
    def _ca_builder(
        subject: x509.Name,
        issuer: x509.Name,
        public_key: crypto.PublicKey,
        issuer_key: crypto.PublicKey,
        not_before: datetime,
        not_after: datetime,
        serial: int | None,
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(serial if serial is not None else x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key), critical=False
            )
        )

    def issue(
        self,
        public_key: crypto.PublicKey,
        common_name: str,
        *,
        not_before: datetime,
        not_after: datetime,
        organization: str | None = None,
        organizational_units: Sequence[str] = (),
        attributes: Mapping[str, str] | None = None,
        sans: Sequence[str] = (),
        server_auth: bool = False,
        client_auth: bool = False,
        serial: int | None = None,
    ) -> x509.Certificate:
        """An end-entity certificate (CA:FALSE, digitalSignature) for `public_key`.

        `organizational_units` carries the NodeOU role; `attributes` (if given) become the
        Fabric-CA attribute extension; `sans` are IPs or DNS names; `server_auth` /
        `client_auth` set the extended key usages TLS needs.
        """
        builder = (
            x509.CertificateBuilder()
            .subject_name(
                subject_name(
                    common_name,
                    organization=organization,
                    organizational_units=organizational_units,
                )
            )
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(serial if serial is not None else x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.private_key.public_key()),
                critical=False,
            )
        )
        usages = [
            oid
            for oid, wanted in (
                (ExtendedKeyUsageOID.SERVER_AUTH, server_auth),
                (ExtendedKeyUsageOID.CLIENT_AUTH, client_auth),
            )
            if wanted
        ]
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        if sans:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(_general_names(sans)), critical=False
            )
        if attributes is not None:
            builder = builder.add_extension(
                x509.UnrecognizedExtension(ATTRS_OID, attributes_extension_value(attributes)),
                critical=False,
            )
        return builder.sign(self.private_key, _SHA256)

    def issue_crl(
        self,
        revoked: Iterable[tuple[int, datetime]] = (),
        *,
        this_update: datetime,
        next_update: datetime,
    ) -> x509.CertificateRevocationList:
        """A CRL signed by this CA listing `(serial, revocation_date)` pairs (may be empty)."""
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(this_update)
            .next_update(next_update)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.private_key.public_key()),
                critical=False,
            )
        )
        for serial, when in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        return builder.sign(self.private_key, _SHA256)
