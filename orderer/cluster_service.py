"""The server side of the cluster port: who may speak for which channel, and dispatch.

`ClusterService` implements the `scf.Cluster` gRPC service. The port runs mutual TLS
(`ClusterServer` requires a client certificate at the handshake), and every request
is authenticated per channel before anything reaches the `ClusterHandler`:

* Exact match (preferred): the client's TLS certificate equals the `client_tls_cert`
  of a consenter of the request's channel; that consenter is the sender.
* Fallback, only for a consenter whose config carries no `client_tls_cert`: the
  certificate chains to a TLS root CA of the consenter's org (the channel's orderer
  orgs) and the sender *claims* that consenter's id (the messages' `from_node`, or
  `SubmitRequest.sender`).

Every Raft message in a batch must come `from` the authenticated sender. A refusal
ends the call with PERMISSION_DENIED (UNAUTHENTICATED without a client certificate,
INVALID_ARGUMENT for undecodable messages) and is logged once per (client cert,
channel, reason) — a misconfigured peer reconnecting in a loop does not flood the
log. Malformed bytes on the port are gRPC's to reject; nothing here can crash the
server.

Threading: gRPC calls the handler from its worker threads, one Step stream per
remote orderer holding one worker for the stream's life, so the handler must be
thread-safe and should not block for long (it delays that peer's later messages).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn, Protocol

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from common import grpclimits, tls
from common.config.channel import ChannelConfig, Consenter
from orderer.cluster import ClusterHandler, ForwardResult
from orderer.raft import NodeId
from orderer.raft_codec import RaftCodecError, messages_from_proto
from protos.common import common_pb2
from protos.scf import cluster_pb2, cluster_pb2_grpc

__all__ = [
    "AuthError",
    "ClusterMembership",
    "ClusterServer",
    "ClusterService",
    "ConsenterLookup",
    "Membership",
]

log = logging.getLogger("orderer.cluster")

_MAX_LOGGED_REFUSALS = 4096


@dataclass(frozen=True)
class Membership:
    """A channel's consenters and the TLS root (and intermediate) CA certificates of
    its orderer orgs, keyed by MSP id (PEM)."""

    channel: str
    consenters: tuple[Consenter, ...]
    tls_roots: Mapping[str, tuple[bytes, ...]]


class ConsenterLookup(Protocol):
    """What the service asks about a channel (implemented by `ClusterMembership`)."""

    def membership(self, channel: str) -> Membership | None:
        """The channel's current consenters, or None if this node does not serve it."""
        ...


class ClusterMembership:
    """A thread-safe table channel → `Membership`, updated as configs change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._channels: dict[str, Membership] = {}

    def update(
        self,
        channel: str,
        consenters: Sequence[Consenter],
        tls_roots: Mapping[str, Sequence[bytes]] | None = None,
    ) -> None:
        roots = {k: tuple(v) for k, v in (tls_roots or {}).items()}
        with self._lock:
            self._channels[channel] = Membership(channel, tuple(consenters), roots)

    def update_config(self, config: ChannelConfig) -> None:
        """Take the consenters and orderer orgs' TLS CAs from a channel config."""
        roots: dict[str, tuple[bytes, ...]] = {
            org.mspid: org.tls_root_certs + org.intermediate_certs for org in config.orderer_orgs
        }
        self.update(config.channel_id, config.consenters, roots)

    def remove(self, channel: str) -> None:
        with self._lock:
            self._channels.pop(channel, None)

    def membership(self, channel: str) -> Membership | None:
        with self._lock:
            return self._channels.get(channel)


class AuthError(Exception):
    """A request was refused: `status` is the gRPC code, `reason` says why."""

    def __init__(self, status: grpc.StatusCode, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@functools.lru_cache(maxsize=256)
def _der(pem: bytes) -> bytes | None:
    """DER of a PEM certificate (cached: the same few certificates come back on every
    call; parsing one costs ≈ 0.1 ms)."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return None
    return cert.public_bytes(serialization.Encoding.DER)


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    key = issuer.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or cert.signature_hash_algorithm is None:
        return False
    try:
        key.verify(
            cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm)
        )
    except InvalidSignature:
        return False
    return True


def _chains_to(cert: x509.Certificate, pems: Iterable[bytes]) -> bool:
    """Whether `cert` is signed by one of the CA certs, directly or through the others
    (the TLS handshake already checked validity and the chain to *some* trusted root;
    this pins it to the consenter's own org)."""
    cas: list[x509.Certificate] = []
    for pem in pems:
        try:
            cas.extend(x509.load_pem_x509_certificates(pem))
        except ValueError:
            continue
    current, seen = cert, 0
    while seen <= len(cas):
        issuer = next((ca for ca in cas if _signed_by(current, ca)), None)
        if issuer is None:
            return False
        if issuer.issuer == issuer.subject:  # reached a root
            return True
        current, seen = issuer, seen + 1
    return False


_MAX_CACHED_SENDERS = 1024


class _SenderCache:
    """Verdicts shared by every call on the port: (client cert, channel, claimed id)
    → (the channel's `Membership` they were reached under, the sender). A verdict
    counts only while the channel's membership is that very object (a config update
    replaces it), so a consenter removed from the channel is refused at once. Only
    acceptances are cached; refusals are worked out (and logged) every time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._verdicts: dict[tuple[bytes, str, NodeId | None], tuple[Membership, NodeId]] = {}

    def get(self, cert_pem: bytes, member: Membership, claimed: NodeId | None) -> NodeId | None:
        with self._lock:
            found = self._verdicts.get((cert_pem, member.channel, claimed))
        if found is not None and found[0] is member:
            return found[1]
        return None

    def put(
        self, cert_pem: bytes, member: Membership, claimed: NodeId | None, sender: NodeId
    ) -> None:
        with self._lock:
            if len(self._verdicts) >= _MAX_CACHED_SENDERS:
                self._verdicts.clear()
            self._verdicts[(cert_pem, member.channel, claimed)] = (member, sender)


class _Authenticator:
    """Per call: who the client (its TLS certificate) speaks as, per channel; the
    verdicts are shared with the service's other calls through `cache`."""

    def __init__(
        self, lookup: ConsenterLookup, cert_pem: bytes | None, cache: _SenderCache | None = None
    ) -> None:
        self._lookup = lookup
        self._cert_pem = cert_pem
        self._cache = cache if cache is not None else _SenderCache()

    def sender(self, channel: str, claimed: NodeId | None) -> NodeId:
        """The consenter id the client speaks as on `channel`, or `AuthError`."""
        if self._cert_pem is None:
            raise AuthError(grpc.StatusCode.UNAUTHENTICATED, "no TLS client certificate")
        member = self._lookup.membership(channel)
        if member is None:
            raise AuthError(grpc.StatusCode.PERMISSION_DENIED, f"unknown channel {channel!r}")
        found = self._cache.get(self._cert_pem, member, None)
        if found is None and claimed is not None:
            found = self._cache.get(self._cert_pem, member, claimed)
        if found is not None:
            return found
        cert_der = _der(self._cert_pem)
        if cert_der is None:
            raise AuthError(grpc.StatusCode.UNAUTHENTICATED, "unparseable TLS client certificate")
        for consenter in member.consenters:
            if consenter.client_tls_cert and _der(consenter.client_tls_cert) == cert_der:
                self._cache.put(self._cert_pem, member, None, NodeId(consenter.id))
                return NodeId(consenter.id)
        if claimed is not None:
            named = next((c for c in member.consenters if c.id == claimed), None)
            if named is not None and not named.client_tls_cert:
                roots = member.tls_roots.get(named.mspid, ())
                cert = x509.load_pem_x509_certificate(self._cert_pem)
                if _chains_to(cert, roots):
                    # Keyed by the claim too: a later request may claim another id.
                    self._cache.put(self._cert_pem, member, claimed, claimed)
                    return claimed
        raise AuthError(
            grpc.StatusCode.PERMISSION_DENIED,
            f"TLS client certificate is not that of a consenter of channel {channel!r}",
        )


class ClusterService(cluster_pb2_grpc.ClusterServicer):
    """`scf.Cluster`: authenticates each request and hands it to `handler`."""

    def __init__(self, handler: ClusterHandler, lookup: ConsenterLookup) -> None:
        self._handler = handler
        self._lookup = lookup
        self._logged: set[tuple[bytes, str, str]] = set()
        self._logged_lock = threading.Lock()
        self._senders = _SenderCache()

    def _refuse(
        self, context: grpc.ServicerContext, cert_pem: bytes | None, channel: str, err: AuthError
    ) -> NoReturn:
        self._log_refusal(context, cert_pem, channel, err)
        context.abort(err.status, err.reason)

    def _log_refusal(
        self, context: grpc.ServicerContext, cert_pem: bytes | None, channel: str, err: AuthError
    ) -> None:
        key = (cert_pem or b"", channel, err.reason)
        with self._logged_lock:
            first = key not in self._logged
            if first and len(self._logged) < _MAX_LOGGED_REFUSALS:
                self._logged.add(key)
        if first:
            log.warning(
                "cluster: refused %s from %s (client cert %s): %s",
                err.status.name,
                context.peer(),
                _subject(cert_pem),
                err.reason,
            )

    def Step(
        self, request_iterator: Iterator[cluster_pb2.StepRequest], context: grpc.ServicerContext
    ) -> Iterator[cluster_pb2.StepResponse]:
        cert_pem = tls.peer_certificate_pem(context)
        auth = _Authenticator(self._lookup, cert_pem, self._senders)
        for request in request_iterator:
            channel = request.channel
            try:
                claimed = NodeId(request.messages[0].from_node) if request.messages else None
                sender = auth.sender(channel, claimed)
                messages = messages_from_proto(request.messages)
                impostor = next((m for m in messages if m.from_ != sender), None)
                if impostor is not None:
                    raise AuthError(
                        grpc.StatusCode.PERMISSION_DENIED,
                        f"consenter {sender} sent a message from {impostor.from_}",
                    )
            except AuthError as err:
                self._refuse(context, cert_pem, channel, err)
            except RaftCodecError as err:
                self._refuse(
                    context,
                    cert_pem,
                    channel,
                    AuthError(grpc.StatusCode.INVALID_ARGUMENT, err.message),
                )
            if not messages:
                continue
            try:
                self._handler.on_raft_messages(channel, sender, messages)
            except Exception:  # a handler bug must not cut the stream of every channel
                log.exception(
                    "cluster: handler failed on %d messages of %s", len(messages), channel
                )
        return
        yield  # a generator: the stream ends when the client closes its side

    def Submit(
        self, request: cluster_pb2.SubmitRequest, context: grpc.ServicerContext
    ) -> cluster_pb2.SubmitResponse:
        cert_pem = tls.peer_certificate_pem(context)
        auth = _Authenticator(self._lookup, cert_pem, self._senders)
        claimed = NodeId(request.sender) if request.sender else None
        try:
            sender = auth.sender(request.channel, claimed)
        except AuthError as err:
            self._refuse(context, cert_pem, request.channel, err)
        try:
            result = self._handler.on_forwarded_envelope(request.channel, sender, request.envelope)
        except Exception as exc:
            log.exception("cluster: handler failed on a forwarded envelope of %s", request.channel)
            result = ForwardResult(common_pb2.INTERNAL_SERVER_ERROR, f"leader failed: {exc}")
        return cluster_pb2.SubmitResponse(status=result.status, info=result.info)

    def SubmitStream(
        self,
        request_iterator: Iterator[cluster_pb2.SubmitBatchRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[cluster_pb2.SubmitBatchResponse]:
        """A follower's forwarding stream: each request's envelopes are handed to the
        handler in order and answered with one status each, requests in order. A
        request whose sender is refused is answered SERVICE_UNAVAILABLE for each of its
        envelopes (logged once), without ending the stream the other channels use."""
        cert_pem = tls.peer_certificate_pem(context)
        auth = _Authenticator(self._lookup, cert_pem, self._senders)
        for request in request_iterator:
            channel = request.channel
            claimed = NodeId(request.sender) if request.sender else None
            try:
                sender = auth.sender(channel, claimed)
            except AuthError as err:
                self._log_refusal(context, cert_pem, channel, err)
                refused = cluster_pb2.SubmitResponse(
                    status=common_pb2.SERVICE_UNAVAILABLE,
                    info=f"the leader refused the forward: {err.reason}",
                )
                yield cluster_pb2.SubmitBatchResponse(results=[refused] * len(request.envelopes))
                continue
            results: list[cluster_pb2.SubmitResponse] = []
            for envelope in request.envelopes:
                try:
                    result = self._handler.on_forwarded_envelope(channel, sender, envelope)
                except Exception as exc:
                    log.exception("cluster: handler failed on a forwarded envelope of %s", channel)
                    result = ForwardResult(
                        common_pb2.INTERNAL_SERVER_ERROR, f"leader failed: {exc}"
                    )
                results.append(cluster_pb2.SubmitResponse(status=result.status, info=result.info))
            yield cluster_pb2.SubmitBatchResponse(results=results)


def _subject(cert_pem: bytes | None) -> str:
    if not cert_pem:
        return "none"
    try:
        return x509.load_pem_x509_certificate(cert_pem).subject.rfc4514_string()
    except ValueError:
        return "unparseable"


class ClusterServer:
    """A gRPC server on the cluster port with mutual TLS required.

    `server_tls.client_root_cas` must hold the TLS root CAs of every orderer org
    (the handshake rejects anything else before `ClusterService` sees it).
    `address` is `host:port`; port 0 picks a free port, see `port` after `start()`.
    `limits` (`common.grpclimits`) bound concurrent calls, message sizes and idle time.
    """

    def __init__(
        self,
        address: str,
        server_tls: tls.ServerTls,
        handler: ClusterHandler,
        lookup: ConsenterLookup,
        *,
        limits: grpclimits.GrpcLimits = grpclimits.CLUSTER_LIMITS,
    ) -> None:
        if not server_tls.client_root_cas:
            raise tls.TlsMaterialError("the cluster port needs the orderer orgs' TLS root CAs")
        creds = tls.ServerTls(
            server_tls.cert_pem, server_tls.key_pem, server_tls.client_root_cas, True
        ).credentials()
        self._server, self._executor, self.limiter = grpclimits.limited_server(
            limits, name="cluster"
        )
        cluster_pb2_grpc.add_ClusterServicer_to_server(  # type: ignore[no-untyped-call]
            ClusterService(handler, lookup), self._server
        )
        self._port = self._server.add_secure_port(address, creds)
        if self._port == 0:
            raise OSError(f"cannot listen on {address}")

    @property
    def port(self) -> int:
        return self._port

    def start(self) -> None:
        self._server.start()

    def stop(self, grace_s: float | None = 1.0) -> None:
        """Stop accepting, end open streams after `grace_s`, and wait until done."""
        self._server.stop(grace_s).wait()
        self._executor.shutdown(wait=False, cancel_futures=True)
