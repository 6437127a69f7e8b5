"""common.tls: loading TLS material, building credentials, reading the peer's cert."""

from __future__ import annotations

from concurrent import futures
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives import serialization

from common import crypto, tls
from common.msp import CertificateAuthority

NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2099, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    ca = CertificateAuthority.create_root("tlsca", not_before=NOT_BEFORE, not_after=NOT_AFTER)
    out = tmp_path_factory.mktemp("tls")
    files: dict[str, Path] = {"ca": out / "ca.crt"}
    files["ca"].write_bytes(crypto.certificate_to_pem(ca.certificate))
    for name in ("server", "client"):
        key = crypto.generate_private_key()
        cert = ca.issue(
            key.public_key(),
            name,
            not_before=NOT_BEFORE,
            not_after=NOT_AFTER,
            sans=("127.0.0.1", "localhost"),
            server_auth=True,
            client_auth=True,
        )
        files[f"{name}.crt"] = out / f"{name}.crt"
        files[f"{name}.key"] = out / f"{name}.key"
        files[f"{name}.crt"].write_bytes(crypto.certificate_to_pem(cert))
        files[f"{name}.key"].write_bytes(crypto.private_key_to_pem(key))
    return files


def test_load_from_files_and_bytes_agree(material: dict[str, Path]) -> None:
    from_files = tls.ServerTls.load(
        material["server.crt"],
        str(material["server.key"]),
        [material["ca"]],
        require_client_auth=True,
    )
    from_bytes = tls.ServerTls.load(
        material["server.crt"].read_bytes(),
        material["server.key"].read_bytes(),
        [material["ca"].read_bytes()],
        require_client_auth=True,
    )
    assert from_files == from_bytes
    assert isinstance(from_files.credentials(), grpc.ServerCredentials)
    client = tls.ClientTls.load([material["ca"]], material["client.crt"], material["client.key"])
    assert isinstance(client.credentials(), grpc.ChannelCredentials)
    assert tls.ClientTls.load([material["ca"]]).cert_pem is None


def test_missing_file_is_a_named_error(tmp_path: Path, material: dict[str, Path]) -> None:
    with pytest.raises(tls.TlsMaterialError, match="cannot read") as err:
        tls.ServerTls.load(tmp_path / "nope.crt", material["server.key"])
    assert err.value.code == "TLS_MATERIAL_UNREADABLE"
    assert "nope.crt" in str(err.value)


@pytest.mark.parametrize(
    ("cert", "key", "why"),
    [
        (b"garbage", None, "not PEM"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", None, "unreadable"),
        (None, b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "unreadable"),
        (None, "client.key", "does not match"),
    ],
)
def test_bad_material_is_rejected(
    material: dict[str, Path], cert: bytes | None, key: bytes | str | None, why: str
) -> None:
    cert_source = cert if cert is not None else material["server.crt"]
    key_source = material[key] if isinstance(key, str) else key or material["server.key"]
    with pytest.raises(tls.TlsMaterialError, match=why):
        tls.ServerTls.load(cert_source, key_source)


def test_inconsistent_options_are_rejected(material: dict[str, Path]) -> None:
    with pytest.raises(tls.TlsMaterialError, match="no client root CA"):
        tls.ServerTls.load(material["server.crt"], material["server.key"], require_client_auth=True)
    with pytest.raises(tls.TlsMaterialError, match="needs its key"):
        tls.ClientTls.load([material["ca"]], material["client.crt"])
    with pytest.raises(tls.TlsMaterialError, match="no root CA"):
        tls.ClientTls.load([])


def test_a_connection_attempt_may_take_longer_than_the_reconnect_backoff() -> None:
    """gRPC bounds each connection attempt by `grpc.min_reconnect_backoff_ms`: a short
    value there made TLS handshakes on a loaded machine time out again and again."""
    client = dict(tls.channel_options())
    assert client["grpc.min_reconnect_backoff_ms"] == tls.CONNECT_TIMEOUT_MS >= 10_000
    assert client["grpc.initial_reconnect_backoff_ms"] <= 1_000  # retries stay quick
    short = dict(tls.channel_options(connect_timeout_ms=3_000))
    assert short["grpc.min_reconnect_backoff_ms"] == 3_000


def test_options_carry_limits_and_name_override() -> None:
    server = dict(tls.server_options(1234))
    assert server["grpc.max_receive_message_length"] == 1234
    assert server["grpc.max_send_message_length"] == 1234
    client = dict(tls.channel_options(server_name_override="orderer0.example.com"))
    assert client["grpc.max_receive_message_length"] == tls.DEFAULT_MAX_MESSAGE_BYTES
    assert client["grpc.ssl_target_name_override"] == "orderer0.example.com"
    # A client must not ping more often than the server tolerates (GOAWAY too_many_pings).
    assert (
        client["grpc.keepalive_time_ms"]
        >= server["grpc.http2.min_recv_ping_interval_without_data_ms"]
    )


class FakeContext:
    def __init__(self, auth: dict[str, Any]) -> None:
        self._auth = auth

    def auth_context(self) -> dict[str, Any]:
        return self._auth


def test_peer_certificate_from_auth_context(material: dict[str, Path]) -> None:
    pem = material["client.crt"].read_bytes()
    context = FakeContext({"x509_pem_cert": [pem], "transport_security_type": [b"ssl"]})
    assert tls.peer_certificate_pem(context) == pem
    cert = tls.peer_certificate(context)
    assert cert is not None
    der = crypto.load_certificate_pem(pem).public_bytes(serialization.Encoding.DER)
    assert tls.peer_certificate_der(context) == der
    assert tls.peer_certificate_pem(FakeContext({})) is None
    assert tls.peer_certificate(FakeContext({})) is None


def _echo_peer_cert(request: bytes, context: grpc.ServicerContext) -> bytes:
    return tls.peer_certificate_pem(context) or b"none"


def test_mutual_tls_round_trip_reports_the_client_certificate(material: dict[str, Path]) -> None:
    handler = grpc.method_handlers_generic_handler(
        "test.Echo", {"Peer": grpc.unary_unary_rpc_method_handler(_echo_peer_cert)}
    )
    for require in (True, False):
        server_tls = tls.ServerTls.load(
            material["server.crt"],
            material["server.key"],
            [material["ca"]],
            require_client_auth=require,
        )
        server = grpc.server(futures.ThreadPoolExecutor(2), options=tls.server_options())
        server.add_generic_rpc_handlers((handler,))
        port = server.add_secure_port("127.0.0.1:0", server_tls.credentials())
        server.start()
        try:
            mutual = tls.ClientTls.load(
                [material["ca"]], material["client.crt"], material["client.key"]
            )
            with grpc.secure_channel(
                f"127.0.0.1:{port}", mutual.credentials(), tls.channel_options()
            ) as channel:
                echoed = channel.unary_unary("/test.Echo/Peer")(b"", timeout=5)
            # Without require_client_auth gRPC does not even ask for a client cert.
            assert echoed == (material["client.crt"].read_bytes() if require else b"none")
            anonymous = tls.ClientTls.load([material["ca"]])
            with grpc.secure_channel(f"127.0.0.1:{port}", anonymous.credentials()) as channel:
                call = channel.unary_unary("/test.Echo/Peer")
                if require:
                    with pytest.raises(grpc.RpcError) as err:
                        call(b"", timeout=5)
                    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
                else:
                    assert call(b"", timeout=5) == b"none"
        finally:
            server.stop(0).wait()
