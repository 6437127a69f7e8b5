"""A thin client of the regulator query service (`scf.Regulator`, issue 7).

`RegulatorClient(grpc_channel, signer)` signs every request with the regulator
identity `signer` (a `SignedRegulatorRequest`: the deterministic bytes of a
`RegulatorRequest{timestamp, nonce, body}`, the serialised identity and its
signature over exactly those bytes) and calls the service on the regulator's peer.
The caller owns the gRPC channel (`RegulatorClient.from_profile` makes one and
closes it with the client).

Paginated queries (`alerts`, `exceptions`, `key_history`, margin calls) are
iterated to the end here; `watch` streams until the caller stops iterating (then
the call is cancelled).

Errors: `RegulatorError` with the gRPC status name as `code` (`PERMISSION_DENIED`
for an identity the service refuses, `NOT_FOUND`, `INVALID_ARGUMENT`,
`UNAVAILABLE`), and the server's message.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc

from client.profile import ConnectionProfile, Endpoint, OrgProfile, ProfileError, load_profile
from common import tls
from common.errors import ScfError
from common.msp import SigningIdentity
from common.txutil import Signer
from protos.scf import regulator_pb2, regulator_pb2_grpc

__all__ = [
    "LineageNode",
    "RegulatorClient",
    "RegulatorError",
    "lineage_tree",
    "regulator_org",
    "sign_request",
]

DEFAULT_TIMEOUT = 30.0
_M = TypeVar("_M")


class RegulatorError(ScfError):
    """A regulator call failed; `code` is the gRPC status name."""

    code = "REGULATOR_ERROR"


def sign_request(
    signer: Signer, request: regulator_pb2.RegulatorRequest, *, now: float | None = None
) -> regulator_pb2.SignedRegulatorRequest:
    """Stamp (timestamp, a fresh nonce), serialise deterministically and sign — the
    same contract as the peer's `peer.regulator.auth.sign_request`."""
    stamped = regulator_pb2.RegulatorRequest()
    stamped.CopyFrom(request)
    if not stamped.timestamp:
        stamped.timestamp = int(time.time() if now is None else now)
    if not stamped.nonce:
        stamped.nonce = os.urandom(16)
    raw = stamped.SerializeToString(deterministic=True)
    return regulator_pb2.SignedRegulatorRequest(
        request=raw, identity=signer.serialize(), signature=signer.sign(raw)
    )


def regulator_org(profile: ConnectionProfile, name: str | None = None) -> OrgProfile:
    """The org `name`, or else the profile's regulator org (named `regulator` or
    with an MSP id starting with `Regulator`)."""
    if name:
        return profile.org(name)
    for org in profile.organizations.values():
        if org.name.lower() == "regulator" or org.mspid.lower().startswith("regulator"):
            return org
    raise ProfileError(f"no regulator org in {profile.path}; pass --org", code="UNKNOWN_ORG")


def _signer(org: OrgProfile, user: str | None) -> tuple[SigningIdentity, Any]:
    if user:
        chosen = org.user(user)
    else:
        users = list(org.users.values())
        if not users:
            raise ProfileError(f"org {org.name!r} has no user in the profile", code="UNKNOWN_USER")
        chosen = next((u for u in users if u.name.lower() != "admin"), users[0])
    if chosen.cert is not None and chosen.key is not None:
        signer = SigningIdentity.from_pem(
            org.mspid, chosen.cert.read_bytes(), chosen.key.read_bytes()
        )
    else:
        assert chosen.msp_dir is not None  # the profile reader guarantees one
        signer = SigningIdentity.from_msp_dir(chosen.msp_dir, org.mspid)
    return signer, chosen


def dial(
    endpoint: Endpoint, tls_cert: Path | None = None, tls_key: Path | None = None
) -> grpc.Channel:
    """A gRPC channel to `endpoint` (TLS, optionally mutual, as the profile says)."""
    options = tls.channel_options(server_name_override=endpoint.server_name)
    if not endpoint.tls:
        return grpc.insecure_channel(endpoint.address, options=options)
    assert endpoint.tls_ca is not None
    client_tls = tls.ClientTls.load([endpoint.tls_ca], tls_cert, tls_key)
    return grpc.secure_channel(endpoint.address, client_tls.credentials(), options=options)


@dataclass(frozen=True)
class LineageNode:
    """One voucher of a lineage tree with its children (`lineage_tree`)."""

    node: regulator_pb2.VoucherNode
    children: list[LineageNode] = field(default_factory=list)


def lineage_tree(response: regulator_pb2.VoucherLineageResponse) -> LineageNode | None:
    """The nodes (parents before children) as a tree rooted at `root_id`."""
    by_id = {n.voucher_id: LineageNode(n) for n in response.nodes}
    root = by_id.get(response.root_id)
    for n in response.nodes:
        if n.parent_id and n.parent_id in by_id and n.voucher_id != response.root_id:
            by_id[n.parent_id].children.append(by_id[n.voucher_id])
    return root


class RegulatorClient:
    """See the module docstring. Thread-safe as gRPC stubs are."""

    def __init__(
        self,
        channel: grpc.Channel,
        signer: Signer,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        owns_channel: bool = False,
        target: str = "",
    ) -> None:
        self._channel = channel
        self._signer = signer
        self._stub = regulator_pb2_grpc.RegulatorStub(channel)  # type: ignore[no-untyped-call]
        self._timeout = timeout
        self._owns = owns_channel
        self.target = target

    @classmethod
    def from_profile(
        cls,
        profile: str | Path | ConnectionProfile,
        *,
        org: str | None = None,
        user: str | None = None,
        peer: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> RegulatorClient:
        """Connect as a regulator user (default: the regulator org's first non-admin
        user, e.g. Auditor1) to the regulator org's peer (or `peer`)."""
        loaded = profile if isinstance(profile, ConnectionProfile) else load_profile(profile)
        org_profile = regulator_org(loaded, org)
        signer, chosen = _signer(org_profile, user)
        if peer:
            if peer not in loaded.peers:
                raise ProfileError(f"no peer {peer!r} in {loaded.path}", code="UNKNOWN_PEER")
            endpoint = loaded.peers[peer]
        else:
            endpoint = loaded.gateway_peer(org_profile.name)
        channel = dial(endpoint, chosen.tls_cert, chosen.tls_key)
        return cls(channel, signer, timeout=timeout, owns_channel=True, target=endpoint.name)

    def close(self) -> None:
        if self._owns:
            self._channel.close()

    def __enter__(self) -> RegulatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- plumbing

    def sign(self, **body: Any) -> regulator_pb2.SignedRegulatorRequest:
        """A signed request whose body is the one keyword given, e.g.
        `sign(exposure=ExposureRequest(...))`."""
        return sign_request(self._signer, regulator_pb2.RegulatorRequest(**body))

    def _call(self, method: Callable[..., Any], kind: type[_M], **body: Any) -> _M:
        try:
            response = method(self.sign(**body), timeout=self._timeout)
        except grpc.RpcError as exc:
            raise _error(exc) from None
        assert isinstance(response, kind)
        return response

    def _pages(
        self,
        method: Callable[..., Any],
        kind: type[_M],
        name: str,
        make: Callable[[str], Any],
        max_pages: int | None = None,
    ) -> Iterator[_M]:
        """Pages until the token is empty, or `max_pages` of them."""
        token = ""
        count = 0
        while True:
            page = self._call(method, kind, **{name: make(token)})
            yield page
            count += 1
            token = str(getattr(page, "next_page_token", ""))
            if not token or (max_pages is not None and count >= max_pages):
                return

    # ------------------------------------------------------------------ queries

    def channels(self) -> list[regulator_pb2.ChannelInfo]:
        resp = self._call(
            self._stub.ListChannels,
            regulator_pb2.ListChannelsResponse,
            list_channels=regulator_pb2.ListChannelsRequest(),
        )
        return list(resp.channels)

    def block(
        self, channel: str, number: int | None = None, header_hash: bytes | None = None
    ) -> regulator_pb2.GetBlockResponse:
        req = regulator_pb2.GetBlockRequest(channel=channel)
        if header_hash is not None:
            req.header_hash = header_hash
        else:
            req.number = number or 0
        return self._call(self._stub.GetBlock, regulator_pb2.GetBlockResponse, get_block=req)

    def transaction(self, tx_id: str, channel: str = "") -> regulator_pb2.GetTransactionResponse:
        req = regulator_pb2.GetTransactionRequest(channel=channel, tx_id=tx_id)
        return self._call(
            self._stub.GetTransaction, regulator_pb2.GetTransactionResponse, get_transaction=req
        )

    def key_history(
        self, channel: str, namespace: str, key: str
    ) -> list[regulator_pb2.KeyModification]:
        out: list[regulator_pb2.KeyModification] = []
        for page in self._pages(
            self._stub.KeyHistory,
            regulator_pb2.KeyHistoryResponse,
            "key_history",
            lambda t: regulator_pb2.KeyHistoryRequest(
                channel=channel, namespace=namespace, key=key, page_token=t
            ),
        ):
            out.extend(page.modifications)
        return out

    def lineage(self, channel: str, voucher_id: str) -> regulator_pb2.VoucherLineageResponse:
        req = regulator_pb2.VoucherLineageRequest(channel=channel, voucher_id=voucher_id)
        return self._call(
            self._stub.VoucherLineage, regulator_pb2.VoucherLineageResponse, voucher_lineage=req
        )

    def receipt_history(
        self, channel: str, receipt_id: str
    ) -> regulator_pb2.ReceiptHistoryResponse:
        req = regulator_pb2.ReceiptHistoryRequest(channel=channel, receipt_id=receipt_id)
        return self._call(
            self._stub.ReceiptHistory, regulator_pb2.ReceiptHistoryResponse, receipt_history=req
        )

    def exposure(
        self, channel: str = "", issuer: str = "", as_of: str = ""
    ) -> list[regulator_pb2.IssuerExposure]:
        req = regulator_pb2.ExposureRequest(channel=channel, issuer=issuer, as_of=as_of)
        return list(
            self._call(self._stub.Exposure, regulator_pb2.ExposureResponse, exposure=req).exposures
        )

    def overdue(
        self, channel: str = "", issuer: str = "", as_of: str = ""
    ) -> regulator_pb2.OverdueResponse:
        req = regulator_pb2.OverdueRequest(channel=channel, issuer=issuer, as_of=as_of)
        return self._call(self._stub.Overdue, regulator_pb2.OverdueResponse, overdue=req)

    def ltv(
        self, channel: str = "", bank: str = "", *, max_pages: int | None = None
    ) -> regulator_pb2.LtvDistributionResponse:
        """Bank LTV buckets and the margin calls (all pages, or `max_pages`)."""
        merged = regulator_pb2.LtvDistributionResponse()
        for i, page in enumerate(
            self._pages(
                self._stub.LtvDistribution,
                regulator_pb2.LtvDistributionResponse,
                "ltv_distribution",
                lambda t: regulator_pb2.LtvDistributionRequest(
                    channel=channel, bank=bank, page_token=t
                ),
                max_pages,
            )
        ):
            if i == 0:
                merged.banks.extend(page.banks)
            merged.margin_calls.extend(page.margin_calls)
        return merged

    def exceptions(
        self, channel: str = "", kind: str = ""
    ) -> list[regulator_pb2.ComplianceException]:
        out: list[regulator_pb2.ComplianceException] = []
        for page in self._pages(
            self._stub.Exceptions,
            regulator_pb2.ExceptionsResponse,
            "exceptions",
            lambda t: regulator_pb2.ExceptionsRequest(channel=channel, kind=kind, page_token=t),
        ):
            out.extend(page.exceptions)
        return out

    def alerts(
        self, channel: str = "", rule: str = "", *, max_pages: int | None = None
    ) -> list[regulator_pb2.Alert]:
        out: list[regulator_pb2.Alert] = []
        for page in self._pages(
            self._stub.Alerts,
            regulator_pb2.AlertsResponse,
            "alerts",
            lambda t: regulator_pb2.AlertsRequest(channel=channel, rule=rule, page_token=t),
            max_pages,
        ):
            out.extend(page.alerts)
        return out

    def watch(
        self,
        channels: Sequence[str] = (),
        *,
        blocks_only: bool = False,
        alerts_only: bool = False,
    ) -> Iterator[regulator_pb2.WatchEvent]:
        """New blocks and alerts as they commit, until the caller stops iterating."""
        req = regulator_pb2.WatchRequest(
            channels=list(channels), blocks_only=blocks_only, alerts_only=alerts_only
        )
        call = self._stub.Watch(self.sign(watch=req))
        try:
            yield from call
        except grpc.RpcError as exc:
            if exc.code() is not grpc.StatusCode.CANCELLED:
                raise _error(exc) from None
        finally:
            call.cancel()


def _error(exc: grpc.RpcError) -> RegulatorError:
    if isinstance(exc, grpc.Call):
        code = exc.code()
        detail = exc.details() or ""
    else:  # pragma: no cover - grpc always raises Call errors
        code, detail = grpc.StatusCode.UNKNOWN, str(exc)
    if code is grpc.StatusCode.UNAVAILABLE:
        detail = f"the regulator peer is not reachable ({detail})"
    return RegulatorError(f"{code.name}: {detail}", code=code.name)
