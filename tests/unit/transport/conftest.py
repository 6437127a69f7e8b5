"""Fixtures: a TLS CA with orderer certs, consenters, and a recording handler."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from common import crypto, tls
from common.config.channel import Consenter, MspId
from common.msp import CertificateAuthority
from orderer.cluster import ForwardResult
from orderer.raft import Message, NodeId

NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2099, 1, 1, tzinfo=UTC)
CHANNEL = "trade"
ORDERER_MSP = "OrdererMSP"


@dataclass(frozen=True)
class NodeTls:
    cert_pem: bytes
    key_pem: bytes


@dataclass
class Pki:
    ca: CertificateAuthority
    foreign_ca: CertificateAuthority

    @property
    def ca_pem(self) -> bytes:
        return crypto.certificate_to_pem(self.ca.certificate)

    @property
    def foreign_ca_pem(self) -> bytes:
        return crypto.certificate_to_pem(self.foreign_ca.certificate)

    def issue(self, name: str, *, foreign: bool = False) -> NodeTls:
        ca = self.foreign_ca if foreign else self.ca
        key = crypto.generate_private_key()
        cert = ca.issue(
            key.public_key(),
            name,
            not_before=NOT_BEFORE,
            not_after=NOT_AFTER,
            organization=ORDERER_MSP,
            sans=("127.0.0.1", "localhost"),
            server_auth=True,
            client_auth=True,
        )
        return NodeTls(crypto.certificate_to_pem(cert), crypto.private_key_to_pem(key))

    def server_tls(self, node: NodeTls, *, trust_foreign: bool = False) -> tls.ServerTls:
        roots = [self.ca_pem, self.foreign_ca_pem] if trust_foreign else [self.ca_pem]
        return tls.ServerTls.load(node.cert_pem, node.key_pem, roots, require_client_auth=True)

    def client_tls(self, node: NodeTls) -> tls.ClientTls:
        return tls.ClientTls.load([self.ca_pem], node.cert_pem, node.key_pem)


@pytest.fixture(scope="session")
def pki() -> Pki:
    return Pki(
        CertificateAuthority.create_root(
            "tlsca.orderer.example.com", not_before=NOT_BEFORE, not_after=NOT_AFTER
        ),
        CertificateAuthority.create_root(
            "tlsca.evil.example.com", not_before=NOT_BEFORE, not_after=NOT_AFTER
        ),
    )


def consenter(node_id: int, node: NodeTls, port: int, *, with_cert: bool = True) -> Consenter:
    return Consenter(
        id=node_id,
        name=f"orderer{node_id}",
        mspid=MspId(ORDERER_MSP),
        host="127.0.0.1",
        port=7050,
        cluster_port=port,
        identity=b"",
        client_tls_cert=node.cert_pem if with_cert else b"",
        server_tls_cert=node.cert_pem if with_cert else b"",
    )


@dataclass
class RecordingHandler:
    """A `ClusterHandler` that records what arrives and answers forwards."""

    forward_result: ForwardResult = field(default_factory=lambda: ForwardResult(200, "queued"))
    batches: list[tuple[str, NodeId, tuple[Message, ...]]] = field(default_factory=list)
    forwarded: list[tuple[str, NodeId, bytes]] = field(default_factory=list)
    unreachable: list[tuple[str, NodeId]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def on_raft_messages(self, channel: str, sender: NodeId, messages: Sequence[Message]) -> None:
        with self.cond:
            self.batches.append((channel, sender, tuple(messages)))
            self.cond.notify_all()

    def on_forwarded_envelope(self, channel: str, sender: NodeId, envelope: bytes) -> ForwardResult:
        with self.cond:
            self.forwarded.append((channel, sender, envelope))
        if self.forward_result.status == 500:
            raise RuntimeError("leader exploded")
        return self.forward_result

    def on_unreachable(self, channel: str, consenter: NodeId) -> None:
        with self.cond:
            self.unreachable.append((channel, consenter))
            self.cond.notify_all()

    def messages(self) -> list[Message]:
        with self.cond:
            return [m for _, _, batch in self.batches for m in batch]

    def wait_messages(self, count: int, timeout_s: float = 10.0) -> list[Message]:
        with self.cond:
            self.cond.wait_for(lambda: sum(len(b) for _, _, b in self.batches) >= count, timeout_s)
        return self.messages()

    def wait_unreachable(self, timeout_s: float = 10.0) -> list[tuple[str, NodeId]]:
        with self.cond:
            self.cond.wait_for(lambda: bool(self.unreachable), timeout_s)
            return list(self.unreachable)
