"""TLS material for gRPC servers and clients, and the peer's certificate on a call.

Every node speaks gRPC over TLS; the orderers' cluster port and (with
clientAuthRequired) the peers require the client to present a certificate too.
This module turns PEM files or bytes into `grpc` credentials, gives the channel and
server options every node uses, and reads the verified client certificate of a call
(what consenter authentication and the peer's client-auth checks are built on).

Contract of the loaders: material is checked when it is loaded — a missing or
unreadable file, something that is not PEM, a key that does not belong to its
certificate — and reported as `TlsMaterialError` naming what was wrong, instead of
the opaque handshake failure gRPC would give later.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from common.errors import ScfError

__all__ = [
    "CONNECT_TIMEOUT_MS",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "ClientTls",
    "PemSource",
    "ServerTls",
    "TlsMaterialError",
    "channel_credentials",
    "channel_options",
    "load_pem",
    "peer_certificate",
    "peer_certificate_der",
    "peer_certificate_pem",
    "server_credentials",
    "server_options",
]

DEFAULT_MAX_MESSAGE_BYTES = 100 * 1024 * 1024
"""Fabric's default gRPC send/receive limit (100 MiB); blocks ride in one message."""

PemSource = bytes | str | os.PathLike[str]
"""PEM content as `bytes`, or the path of a file holding it (`str` or `Path`)."""

GrpcOptions = list[tuple[str, int | str]]


class TlsMaterialError(ScfError):
    """TLS certificates or keys are missing, unreadable or do not fit together."""

    code = "TLS_MATERIAL_UNREADABLE"


def load_pem(source: PemSource, what: str) -> bytes:
    """The PEM bytes of `source` (bytes are returned as they are, paths are read).

    Raises `TlsMaterialError` if the file cannot be read or holds no PEM block.
    """
    if isinstance(source, bytes):
        data, origin = source, what
    else:
        path = Path(source)
        origin = f"{what} ({path})"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TlsMaterialError(f"{origin}: cannot read: {exc.strerror or exc}") from exc
    if b"-----BEGIN " not in data:
        raise TlsMaterialError(f"{origin}: not PEM (no BEGIN line)")
    return data


def _certificates(pem: bytes, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise TlsMaterialError(f"{what}: unreadable PEM certificate ({exc})") from exc
    return certs


def _check_pair(cert_pem: bytes, key_pem: bytes, what: str) -> None:
    """The key must parse and be the private half of the (first) certificate."""
    cert = _certificates(cert_pem, f"{what} certificate")[0]
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise TlsMaterialError(f"{what} key: unreadable PEM private key ({exc})") from exc
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if key.public_key().public_bytes(enc, spki) != cert.public_key().public_bytes(enc, spki):
        raise TlsMaterialError(f"{what}: the private key does not match the certificate")


@dataclass(frozen=True)
class ServerTls:
    """A server's certificate and key, and the roots client certificates must chain to.

    `client_root_cas` is a PEM bundle of the roots client certificates must chain to.
    `require_client_auth` makes the handshake fail for a client without a valid
    certificate; it needs `client_root_cas`. Without it gRPC does not ask the client
    for a certificate at all (so `peer_certificate` is None on every call).
    """

    cert_pem: bytes
    key_pem: bytes = field(repr=False)
    client_root_cas: bytes = b""
    require_client_auth: bool = False

    @classmethod
    def load(
        cls,
        cert: PemSource,
        key: PemSource,
        client_root_cas: Sequence[PemSource] = (),
        *,
        require_client_auth: bool = False,
    ) -> ServerTls:
        """Read and check the material (see the module contract)."""
        cert_pem = load_pem(cert, "server TLS certificate")
        key_pem = load_pem(key, "server TLS key")
        _check_pair(cert_pem, key_pem, "server TLS")
        roots = _bundle(client_root_cas, "client root CA")
        if require_client_auth and not roots:
            raise TlsMaterialError("client authentication required but no client root CA given")
        return cls(cert_pem, key_pem, roots, require_client_auth)

    def credentials(self) -> grpc.ServerCredentials:
        return server_credentials(self)


@dataclass(frozen=True)
class ClientTls:
    """What a client needs: roots to verify the server, and optionally its own
    certificate and key for mutual TLS."""

    root_cas: bytes
    cert_pem: bytes | None = None
    key_pem: bytes | None = field(default=None, repr=False)

    @classmethod
    def load(
        cls,
        root_cas: Sequence[PemSource],
        cert: PemSource | None = None,
        key: PemSource | None = None,
    ) -> ClientTls:
        """Read and check the material; `cert` and `key` go together or not at all."""
        roots = _bundle(root_cas, "server root CA")
        if not roots:
            raise TlsMaterialError("no root CA given to verify the server with")
        if (cert is None) != (key is None):
            raise TlsMaterialError("a client TLS certificate needs its key and vice versa")
        if cert is None or key is None:
            return cls(roots)
        cert_pem = load_pem(cert, "client TLS certificate")
        key_pem = load_pem(key, "client TLS key")
        _check_pair(cert_pem, key_pem, "client TLS")
        return cls(roots, cert_pem, key_pem)

    def credentials(self) -> grpc.ChannelCredentials:
        return channel_credentials(self)


def _bundle(sources: Sequence[PemSource], what: str) -> bytes:
    """Concatenate PEM certificates into one bundle, checking each parses."""
    parts: list[bytes] = []
    for source in sources:
        pem = load_pem(source, what)
        _certificates(pem, what)
        parts.append(pem if pem.endswith(b"\n") else pem + b"\n")
    return b"".join(parts)


def server_credentials(tls: ServerTls) -> grpc.ServerCredentials:
    """`grpc.ssl_server_credentials` for `tls` (client certs verified against its roots)."""
    return grpc.ssl_server_credentials(
        [(tls.key_pem, tls.cert_pem)],
        root_certificates=tls.client_root_cas or None,
        require_client_auth=tls.require_client_auth,
    )


def channel_credentials(tls: ClientTls) -> grpc.ChannelCredentials:
    """`grpc.ssl_channel_credentials` for `tls`."""
    return grpc.ssl_channel_credentials(
        root_certificates=tls.root_cas,
        private_key=tls.key_pem,
        certificate_chain=tls.cert_pem,
    )


def server_options(max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> GrpcOptions:
    """Options for `grpc.server`: message limits, and keepalive that tolerates the
    clients' pings (a server that is stricter than its clients sends GOAWAY
    "too_many_pings" and drops healthy connections)."""
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_ping_strikes", 0),
    ]


CONNECT_TIMEOUT_MS = 10_000
"""How long one connection attempt may take: half gRPC's default (20 s), so that an
attempt hanging on a node that went silent (a cut link) gives up sooner, and far
above a TLS handshake on a loaded machine."""


def channel_options(
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    *,
    server_name_override: str | None = None,
    max_reconnect_backoff_ms: int = 2_000,
    connect_timeout_ms: int = CONNECT_TIMEOUT_MS,
) -> GrpcOptions:
    """Options for `grpc.secure_channel`: message limits, keepalive pings every 30 s
    (dead peers are noticed even on idle streams), a short reconnect backoff (gRPC's
    default grows to two minutes), and an optional TLS server name to verify instead
    of the host in the target address.

    A connection attempt (TCP, TLS handshake, HTTP/2 SETTINGS) may take up to
    `connect_timeout_ms`. gRPC reads that bound from `grpc.min_reconnect_backoff_ms`
    (its "min connect timeout"), so that option must not be set low to make retries
    quick — retries are quick through the initial and maximum backoff; a bound of
    100 ms made every handshake on a busy machine time out ("connection attempt timed
    out before receiving SETTINGS frame"), over and over."""
    options: GrpcOptions = [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", connect_timeout_ms),
        ("grpc.max_reconnect_backoff_ms", max_reconnect_backoff_ms),
    ]
    if server_name_override:
        options.append(("grpc.ssl_target_name_override", server_name_override))
    return options


class _HasAuthContext(Protocol):
    # grpc returns {property: [value, ...]}; grpc-stubs types it Mapping[str, bytes].
    def auth_context(self) -> Mapping[str, Any]: ...


def peer_certificate_pem(context: _HasAuthContext) -> bytes | None:
    """The PEM of the client certificate the TLS handshake verified, or None.

    None means the call is not over TLS or the client presented no certificate (only
    possible when the server does not require client auth).
    """
    values = context.auth_context().get("x509_pem_cert")
    if not values:
        return None
    first = values if isinstance(values, bytes) else values[0]
    return bytes(first)


def peer_certificate(context: _HasAuthContext) -> x509.Certificate | None:
    """The verified client certificate of the call, parsed (see `peer_certificate_pem`)."""
    pem = peer_certificate_pem(context)
    if pem is None:
        return None
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:  # gRPC verified it, so this would be a gRPC bug
        return None


def peer_certificate_der(context: _HasAuthContext) -> bytes | None:
    """The verified client certificate's DER — a canonical form for comparing certs."""
    cert = peer_certificate(context)
    return None if cert is None else cert.public_bytes(serialization.Encoding.DER)
