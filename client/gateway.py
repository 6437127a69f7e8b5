"""`Gateway`: a connection to one gateway peer, as a client identity.

```python
with Gateway.connect("127.0.0.1:8051", identity=ident, tls_root=ca_pem) as gw:
    contract = gw.network("trade").contract("receivable")
    contract.submit("IssueVoucher", json.dumps({...}))
```

Contracts:

* The gateway owns the gRPC channel it creates and closes it on `close()` / leaving
  the `with` block; a channel passed in with `channel=` stays the caller's.
* Every message is signed by `signer(hash(message bytes))`. The signer is the one
  passed to `connect`, else the identity's own. Without either, the client works in
  offline-signing mode: take `.digest()` of a proposal, transaction or commit, sign
  it elsewhere, and continue with `.with_signature(signature)`.
* Calls are synchronous and thread-safe (gRPC stubs are); each has a deadline from
  `Timeouts`.
* `batching=True` (or `Batching(...)` options) turns on the batching mode
  (`client.batching`): concurrent Endorse and Submit calls share batch calls, and
  commit statuses come from one filtered-block stream per channel. Off by default:
  the standard path (one call per step) is what a Fabric peer serves.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from client.batching import Batching, BatchSession
from client.commit import Commit
from client.identity import Hash, Identity, Signer, sha256
from client.network import Network
from client.profile import load_profile
from client.proposal import Proposal
from client.transaction import Transaction
from common.errors import ScfError
from common.tls import ClientTls, PemSource, TlsMaterialError, channel_options, load_pem
from common.txutil import parse_envelope_message_header, parse_proposal
from protos.gateway import gateway_pb2, gateway_pb2_grpc
from protos.peer import events_pb2_grpc

__all__ = ["Connection", "Gateway", "NoSignerError", "Timeouts"]


class NoSignerError(ScfError):
    """A message had to be signed but the gateway has no signer."""

    code = "NO_SIGNER"


@dataclass(frozen=True)
class Timeouts:
    """Deadlines in seconds per kind of call (None: no deadline)."""

    evaluate: float | None = 30.0
    endorse: float | None = 30.0
    submit: float | None = 30.0
    commit_status: float | None = 60.0


@dataclass(frozen=True)
class Connection:
    """What every SDK object shares: the identity, how to sign, and the stubs.

    Internal to the SDK; applications use `Gateway`, `Network` and `Contract`.
    """

    identity: Identity
    signer: Signer | None
    hash: Hash
    target: str
    gateway: gateway_pb2_grpc.GatewayStub
    deliver: events_pb2_grpc.DeliverStub
    timeouts: Timeouts
    tls_cert_hash: bytes = b""
    creator: bytes = field(default=b"", repr=False)
    batch: BatchSession | None = field(default=None, repr=False, compare=False)
    """The batching mode's state, None on the standard path."""

    def sign(self, message: bytes) -> bytes:
        """`signer(hash(message))`; raises `NoSignerError` in offline mode."""
        if self.signer is None:
            raise NoSignerError(
                "no signer: this identity has no private key; sign .digest() offline and "
                "continue with .with_signature(signature)"
            )
        return self.signer(self.hash(message))


class Gateway:
    """A connection to a gateway peer (see the module docstring)."""

    def __init__(self, connection: Connection, channel: grpc.Channel, *, owned: bool) -> None:
        self._connection = connection
        self._channel = channel
        self._owned = owned

    @classmethod
    def connect(
        cls,
        target: str,
        *,
        identity: Identity,
        signer: Signer | None = None,
        hash: Hash = sha256,
        tls_root: PemSource | None = None,
        client_cert: PemSource | None = None,
        client_key: PemSource | None = None,
        server_name: str | None = None,
        channel: grpc.Channel | None = None,
        timeouts: Timeouts | None = None,
        batching: bool | Batching = False,
    ) -> Gateway:
        """Connect to the gateway peer at `target` (`host:port`).

        With `channel`, that channel is used as is (and not closed by the gateway).
        Otherwise a TLS channel is made when `tls_root` (PEM bytes or path) is given,
        with mutual TLS when `client_cert` and `client_key` are; a plaintext channel
        when it is not. `server_name` is the TLS name to verify instead of the host.
        Connecting does not wait for the peer: an unreachable peer shows as a
        `NETWORK_UNREACHABLE` error on the first call. `batching`: the batching mode
        (module docstring), with default or the given options.
        """
        owned = channel is None
        cert_hash = b""
        if channel is None:
            options: list[tuple[str, Any]] = list(channel_options(server_name_override=server_name))
            if tls_root is None:
                if client_cert is not None or client_key is not None:
                    raise TlsMaterialError("a client TLS certificate needs tls_root too")
                channel = grpc.insecure_channel(target, options=options)
            else:
                tls = ClientTls.load([tls_root], client_cert, client_key)
                channel = grpc.secure_channel(target, tls.credentials(), options=options)
                if tls.cert_pem is not None:
                    cert_hash = _tls_cert_hash(tls.cert_pem)
        elif client_cert is not None:
            cert_hash = _tls_cert_hash(load_pem(client_cert, "client TLS certificate"))
        connection = Connection(
            identity=identity,
            signer=signer if signer is not None else identity.signer,
            hash=hash,
            target=target,
            gateway=gateway_pb2_grpc.GatewayStub(channel),  # type: ignore[no-untyped-call]
            deliver=events_pb2_grpc.DeliverStub(channel),  # type: ignore[no-untyped-call]
            timeouts=timeouts or Timeouts(),
            tls_cert_hash=cert_hash,
            creator=identity.serialize(),
            batch=_batch_session(batching, channel, target),
        )
        return cls(connection, channel, owned=owned)

    @classmethod
    def from_profile(
        cls,
        profile: str | Path,
        *,
        org: str,
        user: str,
        timeouts: Timeouts | None = None,
        batching: bool | Batching = False,
    ) -> Gateway:
        """Connect as `user` of `org` to the org's gateway peer, as the connection
        profile describes them (`client.profile`). Raises `ProfileError`
        (`PROFILE_NOT_FOUND`, `PROFILE_INVALID`, `UNKNOWN_ORG`, `UNKNOWN_USER`), or
        `MspError` / `TlsMaterialError` if the user's material is unreadable.
        `batching` as for `connect`."""
        loaded = load_profile(profile)
        org_profile = loaded.org(org)
        user_profile = org_profile.user(user)
        identity = loaded.identity(org, user)
        peer = loaded.gateway_peer(org_profile.name)
        return cls.connect(
            peer.address,
            identity=identity,
            tls_root=peer.tls_ca if peer.tls else None,
            client_cert=user_profile.tls_cert if peer.tls else None,
            client_key=user_profile.tls_key if peer.tls else None,
            server_name=peer.server_name,
            timeouts=timeouts,
            batching=batching,
        )

    # ------------------------------------------------------------------ accessors

    @property
    def identity(self) -> Identity:
        return self._connection.identity

    @property
    def target(self) -> str:
        return self._connection.target

    def network(self, name: str) -> Network:
        """The channel `name` as this client sees it (no call is made)."""
        return Network(self._connection, name)

    # ----------------------------------------------------- offline signing entries

    def new_signed_proposal(self, data: bytes, signature: bytes) -> Proposal:
        """A proposal from `Proposal.to_bytes()` and a signature of its digest."""
        proposed = gateway_pb2.ProposedTransaction.FromString(data)
        parsed = parse_proposal(bytes(proposed.proposal.proposal_bytes))
        return Proposal(
            self._connection,
            channel=parsed.channel_id,
            chaincode=parsed.chaincode,
            transaction_id=proposed.transaction_id,
            proposal_bytes=parsed.proposal_bytes,
            signature=signature,
            endorsing_organizations=tuple(proposed.endorsing_organizations),
        )

    def new_signed_transaction(self, data: bytes, signature: bytes) -> Transaction:
        """A transaction from `Transaction.to_bytes()` and a signature of its digest."""
        prepared = gateway_pb2.PreparedTransaction.FromString(data)
        payload = bytes(prepared.envelope.payload)
        header = parse_envelope_message_header(prepared.envelope)
        return Transaction.from_payload(
            self._connection,
            header.channel_header.channel_id,
            prepared.transaction_id,
            payload,
            signature,
        )

    def new_signed_commit(self, data: bytes, signature: bytes) -> Commit:
        """A commit from `Commit.to_bytes()` (the CommitStatusRequest) and a signature."""
        request = gateway_pb2.CommitStatusRequest.FromString(data)
        return Commit(
            self._connection,
            channel=request.channel_id,
            transaction_id=request.transaction_id,
            request_bytes=data,
            signature=signature,
        )

    # ------------------------------------------------------------------- lifetime

    @property
    def batching(self) -> Batching | None:
        """The batching mode's options, None on the standard path."""
        batch = self._connection.batch
        return None if batch is None else batch.options

    def close(self) -> None:
        """Stop the batching mode's streams, and close the gRPC channel if the gateway
        made it (idempotent)."""
        if self._connection.batch is not None:
            self._connection.batch.close()
        if self._owned:
            self._channel.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _batch_session(
    batching: bool | Batching, channel: grpc.Channel, target: str
) -> BatchSession | None:
    if batching is False:
        return None
    return BatchSession(Batching() if batching is True else batching, channel, target)


def _tls_cert_hash(cert_pem: bytes) -> bytes:
    """SHA-256 of the client TLS certificate's DER: what Fabric's Deliver expects in
    `ChannelHeader.tls_cert_hash` when the peer requires mutual TLS."""
    try:
        der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    except ValueError:
        return b""
    return hashlib.sha256(der).digest()
