"""Forged, stale and unauthorised requests at every public gRPC port.

Identities (conftest): Supplier1's User1; the same with a bad signature; Supplier1's
certificate signed with Bank's key; expired, not-yet-valid and revoked Supplier1
certificates; a certificate from a foreign root claiming Supplier1MSP. Each is sent
at every method that takes a signed request (`TARGETS`: endorser, gateway, Deliver
on a peer and on an orderer, Broadcast, the regulator service); then: a replayed
txid, an unknown channel and a channel the org is not in, a regulator invoking a
write, a supplier calling a bank-only function, TLS clients with no or a foreign
client certificate (at a peer, the regulator's peer, an orderer's public port and
its cluster port). Every case must be refused; the `unharmed` fixture checks the
ledger state, /healthz and an honest request after.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from client.demo_plan import platform_today
from client.errors import GatewayError
from client.gateway import Gateway
from common import crypto, tls, txutil
from common.msp import SigningIdentity
from common.msp.ca import CertificateAuthority
from protos.common import common_pb2
from protos.peer import events_pb2, transaction_pb2
from tests.security.conftest import CHANNEL, PRIVATE_CHANNEL, Net
from tests.security.support import (
    ENDPOINTS,
    TALLY,
    _proposal,
    call_raw,
    endorse_request,
    evaluate_request,
    judge,
    outcome,
    seek_envelope,
    signed_envelope,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

TARGETS = [
    "endorser",
    "gateway.Evaluate",
    "gateway.Endorse",
    "gateway.Submit",
    "gateway.CommitStatus",
    "gateway.ChaincodeEvents",
    "peer.Deliver",
    "peer.DeliverFiltered",
    "orderer.Deliver",
    "orderer.Broadcast",
    "regulator",
]
"""Every public method that takes a signed request (the cluster port authenticates
its callers by TLS certificate: see the TLS test)."""

UNANSWERED = {grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.NOT_FOUND}
"""Not a refusal of a forged identity: the request was taken as honest and waited on
(CommitStatus for an unknown txid waits for it) or looked up."""


class _BadSignature:
    """Signs, then flips the signature's last byte."""

    def __init__(self, inner: SigningIdentity) -> None:
        self._inner = inner

    def serialize(self) -> bytes:
        return self._inner.serialize()

    def sign(self, data: bytes) -> bytes:
        sig = self._inner.sign(data)
        return sig[:-1] + bytes([sig[-1] ^ 1])


class _OtherKey:
    """Claims `who`'s certificate, signs with `key_of`'s key."""

    def __init__(self, who: SigningIdentity, key_of: SigningIdentity) -> None:
        self._who, self._key = who, key_of

    def serialize(self) -> bytes:
        return self._who.serialize()

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


def _signers(net: Net) -> dict[str, object]:
    user = net.user("supplier1")
    return {
        "bad_signature": _BadSignature(user),
        "other_org_key": _OtherKey(user, net.user("bank")),
        **net.extra,
    }


def _address(net: Net, target: str) -> str:
    if target == "orderer":
        return net.orderer_address(0)
    return net.peer_address(target.split(":", 1)[1])


@pytest.mark.parametrize(
    "case", ["bad_signature", "other_org_key", "expired", "not_yet_valid", "revoked", "foreign_ca"]
)
def test_forged_or_invalid_identity_is_refused(net: Net, unharmed: None, case: str) -> None:
    signer = _signers(net)[case]
    failures = []
    for name in TARGETS:
        ep = ENDPOINTS[name]
        request = ep.build(signer)  # type: ignore[arg-type]
        with net.channel(_address(net, ep.target), net.client_tls("supplier1")) as ch:
            verdict, code = outcome(ep, functools.partial(call_raw, ch, ep, [request], timeout=30))
        if verdict != "refused" or code in UNANSWERED:
            failures.append(f"{name}: {verdict} {code.name}")
    assert not failures, failures


def _flag_of(net: Net, txid: str, start: int) -> int | None:
    """The validation code of the last tx with `txid` in the core peer's blocks from
    `start` to its height (None if none holds it)."""
    height = int(str(net.ledger_state()["core"]["height"]))
    if height <= start:
        return None
    ep = ENDPOINTS["peer.Deliver"]
    request = seek_envelope(net.user("core"), start=start, stop=height - 1)
    with net.channel(net.peer_address("core")) as ch:
        responses = [
            events_pb2.DeliverResponse.FromString(r)
            for r in call_raw(ch, ep, [request], timeout=30)
        ]
    found = None
    for response in responses:
        if response.WhichOneof("Type") != "block":
            continue
        block = response.block
        flags = bytes(block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER])
        for i, raw in enumerate(block.data.data):
            if txutil.parse_envelope_header(raw).channel_header.tx_id == txid:
                found = flags[i]
    return found


def test_replayed_txid_is_refused(net: Net, honest: Callable[[], None]) -> None:
    """The same signed proposal twice: the endorser refuses the second (duplicate
    txid) once the first committed; the committed envelope broadcast again is ordered
    but invalidated at the peers (DUPLICATE_TXID) and leaves the state as it is."""
    with Gateway.from_profile(net.profile.path, org="core", user="User1") as gateway:
        contract = gateway.network(CHANNEL).contract("bench")
        proposal = contract.new_proposal("Put", json.dumps({"key": "replay", "value": "1"}))
        tx = proposal.endorse()
        status = tx.submit().status()
        assert status.successful, status
    envelope = tx.envelope()
    txid = proposal.transaction_id
    # after the honest commit: a replay must change nothing
    _, before = net.ledger_digest()
    ep = ENDPOINTS["endorser"]
    signed = proposal.signed_proposal().SerializeToString()
    with net.channel(net.peer_address("core")) as ch:
        assert judge(ep, lambda: call_raw(ch, ep, [signed])) == "refused"
    ep = ENDPOINTS["orderer.Broadcast"]
    with net.channel(net.orderer_address(0)) as ch:
        call_raw(ch, ep, [envelope.SerializeToString()], timeout=60)
    TALLY[ep.name][0] += 1
    wait_until(
        lambda: _flag_of(net, txid, status.block_number + 1) is not None,
        60,
        "the replayed envelope reaches the core peer",
    )
    assert _flag_of(net, txid, status.block_number + 1) == transaction_pb2.DUPLICATE_TXID
    TALLY[ep.name][1] += 1  # ordered, then invalid at every peer
    _, after = net.ledger_digest()
    assert after == before
    assert set(net.healthy().values()) == {200}
    honest()


def _gateway_call(net: Net, org: str, user: str, fn: Callable[[Any], object]) -> GatewayError:
    with (
        Gateway.from_profile(net.profile.path, org=org, user=user) as gateway,
        pytest.raises(GatewayError) as err,
    ):
        fn(gateway)
    return err.value


@pytest.mark.parametrize("channel", ["nosuch", PRIVATE_CHANNEL])
def test_proposal_for_a_channel_the_org_is_not_in_is_refused(
    net: Net, unharmed: None, channel: str
) -> None:
    """Supplier1 aims at a channel that does not exist, and at one that exists but
    that Supplier1MSP is no member of (`bilateral`): the endorser, the gateway,
    Deliver on peer and orderer and Broadcast all refuse."""
    signer = net.user("supplier1")
    sp, _ = _proposal(signer, channel=channel)
    cases = [
        ("endorser", net.peer_address("core"), sp.SerializeToString()),
        ("gateway.Evaluate", net.peer_address("core"), evaluate_request(signer, channel=channel)),
        ("gateway.Endorse", net.peer_address("core"), endorse_request(signer, channel=channel)),
        ("peer.Deliver", net.peer_address("core"), seek_envelope(signer, channel=channel)),
        ("orderer.Deliver", net.orderer_address(0), seek_envelope(signer, channel=channel)),
        ("orderer.Broadcast", net.orderer_address(0), signed_envelope(signer, channel=channel)),
    ]
    failures = []
    for name, address, request in cases:
        ep = ENDPOINTS[name]
        with net.channel(address) as ch:
            verdict = judge(ep, functools.partial(call_raw, ch, ep, [request], timeout=30))
        if verdict != "refused":
            failures.append(f"{name}: {verdict}")
    assert not failures, failures
    err = _gateway_call(
        net,
        "supplier1",
        "User1",
        lambda g: g.network(channel).contract("bench").evaluate("Get", json.dumps({"key": "k"})),
    )
    TALLY["gateway.Evaluate"][0] += 1
    assert err.grpc_code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED), err
    TALLY["gateway.Evaluate"][1] += 1


def test_member_is_served_on_the_private_channel(net: Net) -> None:
    """The control for the case above: a member org's user reads `bilateral`."""
    with Gateway.from_profile(net.profile.path, org="core", user="User1") as gateway:
        contract = gateway.network(PRIVATE_CHANNEL).contract("bench")
        out = json.loads(contract.evaluate("Get", json.dumps({"key": "k"})))
        assert out["key"] == "k"


def _submit(gateway: Any, chaincode: str, function: str, args: dict[str, Any]) -> object:
    return gateway.network(CHANNEL).contract(chaincode).submit(function, json.dumps(args))


@pytest.fixture(scope="module")
def pending_voucher(net: Net) -> str:
    """A voucher held by Supplier1MSP in FINANCING_PENDING with BankMSP as financier
    (issued by Core, accepted and put up for financing by Supplier1)."""
    today = platform_today()
    tag = uuid.uuid4().hex[:6].upper()
    voucher = f"SEC{tag}"
    sha = "ab" * 32
    issue = {
        "request_id": f"sec-{tag}-1",
        "voucher_id": voucher,
        "payee": "Supplier1MSP",
        "amount": 1_000_000,
        "currency": "CNY",
        "issue_date": today.isoformat(),
        "maturity_date": (today + timedelta(days=60)).isoformat(),
        "underlying": {
            "contract_no": f"PO-{tag}",
            "contract_hash": sha,
            "contract_date": (today - timedelta(days=30)).isoformat(),
            "invoice_nos": [f"INV-{tag}-1"],
            "invoice_hashes": [sha],
            "delivery_date": today.isoformat(),
            "delivery_proof_hash": sha,
            "goods_desc_hash": sha,
        },
        "sme_flag": True,
    }
    steps: list[tuple[str, str, str, dict[str, Any]]] = [
        ("core", "Treasurer", "IssueVoucher", issue),
        (
            "supplier1",
            "User1",
            "AcceptVoucher",
            {"request_id": f"sec-{tag}-2", "voucher_id": voucher},
        ),
        (
            "supplier1",
            "User1",
            "RequestFinancing",
            {"request_id": f"sec-{tag}-3", "voucher_id": voucher, "financier": "BankMSP"},
        ),
    ]
    result: dict[str, Any] = {}
    for org, user, function, args in steps:
        with Gateway.from_profile(net.profile.path, org=org, user=user) as gateway:
            contract = gateway.network(CHANNEL).contract("receivable")
            result = json.loads(contract.submit(function, json.dumps(args)))
    assert result.get("status") == "FINANCING_PENDING", result
    return voucher


def test_regulator_write_and_supplier_bank_only_call_are_refused(
    net: Net, pending_voucher: str, unharmed: None
) -> None:
    """On a voucher pending financing by BankMSP: the regulator (read-only) may not
    write — neither the bench contract nor the voucher — and its holder, a supplier,
    may not approve its own financing (the financier's, a bank's, function)."""
    approve = {
        "request_id": f"sec-{uuid.uuid4().hex[:8]}",
        "voucher_id": pending_voucher,
        "rate_bps": 500,
        "fees": 0,
        "registration_ref": f"CRC-{uuid.uuid4().hex[:8]}",
    }
    writes: list[tuple[str, str, str, str, dict[str, Any]]] = [
        ("regulator", "Auditor1", "bench", "Put", {"key": "reg", "value": "x"}),
        ("regulator", "Auditor1", "receivable", "ApproveFinancing", approve),
        ("supplier1", "User1", "receivable", "ApproveFinancing", approve),
    ]
    expected = {
        "regulator": ("ACCESS_DENIED", "READ_ONLY_ROLE"),
        "supplier1": ("NOT_FINANCIER", "NOT_AUTHORIZED"),
    }
    for org, user, chaincode, function, args in writes:
        err = _gateway_call(
            net,
            org,
            user,
            functools.partial(_submit, chaincode=chaincode, function=function, args=args),
        )
        TALLY["gateway.Submit"][0] += 1
        assert err.code in expected[org], (org, chaincode, function, err)
        TALLY["gateway.Submit"][1] += 1
    with Gateway.from_profile(net.profile.path, org="supplier1", user="User1") as gateway:
        contract = gateway.network(CHANNEL).contract("receivable")
        voucher = json.loads(
            contract.evaluate("GetVoucher", json.dumps({"voucher_id": pending_voucher}))
        )
    assert voucher["status"] == "FINANCING_PENDING", voucher


@pytest.mark.parametrize("target", ["peer:core", "peer:regulator", "orderer", "cluster"])
def test_tls_client_without_or_with_foreign_certificate_is_refused(
    net: Net, unharmed: None, target: str
) -> None:
    """The handshake fails (UNAVAILABLE) for a client with no certificate and for one
    whose certificate a foreign CA issued; a member's certificate gets through it (the
    control: an answer, or for the cluster port a refusal by the service itself)."""
    address = net.cluster_address(0) if target == "cluster" else _address(net, target)
    roots = b"".join(p.read_bytes() for p in net.roots())
    now = datetime.now(UTC)
    nb, na = now - timedelta(days=1), now + timedelta(days=30)
    foreign = CertificateAuthority.create_root("evil tls ca", not_before=nb, not_after=na)
    key = crypto.generate_private_key()
    cert = foreign.issue(key.public_key(), "evil", client_auth=True, not_before=nb, not_after=na)
    clients = {
        "no client cert": tls.ClientTls(roots),
        "foreign client cert": tls.ClientTls(
            roots, crypto.certificate_to_pem(cert), crypto.private_key_to_pem(key)
        ),
    }
    name = {"cluster": "cluster.Submit", "orderer": "orderer.Deliver"}.get(target, "endorser")
    ep = ENDPOINTS[name]
    request = ep.build(net.user("supplier1"))
    for what, client in clients.items():
        with net.channel(address, client) as ch:
            TALLY[f"tls.{target}"][0] += 1
            with pytest.raises(grpc.RpcError) as err:
                call_raw(ch, ep, [request], timeout=30)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE, (what, err.value)
            TALLY[f"tls.{target}"][1] += 1
    member = net.client_tls("orderer", "Admin") if target == "cluster" else net.client_tls()
    with net.channel(address, member) as ch:
        if target != "cluster":
            call_raw(ch, ep, [request], timeout=30)
            return
        with pytest.raises(grpc.RpcError) as err:
            call_raw(ch, ep, [request], timeout=30)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, err.value  # no consenter
