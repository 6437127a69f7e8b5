"""The Regulator gRPC service through a real in-process server: signed regulator
requests are answered, everything else is PERMISSION_DENIED on every RPC, and
Watch delivers new blocks and alerts as they commit."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from common.msp import SigningIdentity
from peer.regulator.auth import sign_request
from peer.regulator.service import RegulatorService, StaticChannels
from protos.scf import regulator_pb2 as pb
from protos.scf import regulator_pb2_grpc
from tests.support.consortium import make_org
from tests.unit.regulator.net import CHANNEL, T0, Net, sha, underlying

NOW = 1_800_000_000
"""The server's (injected) clock; requests are stamped with it."""


@dataclass
class Server:
    net: Net
    stub: regulator_pb2_grpc.RegulatorStub


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    net = Net(tmp_path)
    channels = StaticChannels()
    channels.add(CHANNEL, net.ledger, lambda: net.bundle)
    service = RegulatorService(
        channels, net.store, net.hub, clock=lambda: NOW, watch_poll_seconds=0.05
    )
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    regulator_pb2_grpc.add_RegulatorServicer_to_server(service, grpc_server)  # type: ignore[no-untyped-call]
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Server(net, regulator_pb2_grpc.RegulatorStub(channel))  # type: ignore[no-untyped-call]
    finally:
        channel.close()
        grpc_server.stop(None).wait()
        net.close()


def signed(signer: SigningIdentity, **body: Any) -> pb.SignedRegulatorRequest:
    return sign_request(signer, pb.RegulatorRequest(**body), now=NOW)


BODIES: dict[str, dict[str, Any]] = {
    "ListChannels": {"list_channels": pb.ListChannelsRequest()},
    "GetBlock": {"get_block": pb.GetBlockRequest(channel=CHANNEL, number=0)},
    "GetTransaction": {"get_transaction": pb.GetTransactionRequest(tx_id="x")},
    "KeyHistory": {"key_history": pb.KeyHistoryRequest(channel=CHANNEL, namespace="r", key="k")},
    "VoucherLineage": {
        "voucher_lineage": pb.VoucherLineageRequest(channel=CHANNEL, voucher_id="V")
    },
    "ReceiptHistory": {
        "receipt_history": pb.ReceiptHistoryRequest(channel=CHANNEL, receipt_id="R")
    },
    "Exposure": {"exposure": pb.ExposureRequest()},
    "Overdue": {"overdue": pb.OverdueRequest()},
    "LtvDistribution": {"ltv_distribution": pb.LtvDistributionRequest()},
    "Exceptions": {"exceptions": pb.ExceptionsRequest()},
    "Alerts": {"alerts": pb.AlertsRequest()},
    "Watch": {"watch": pb.WatchRequest()},
}


def call(stub: regulator_pb2_grpc.RegulatorStub, rpc: str, request: Any) -> Any:
    method: Callable[..., Any] = getattr(stub, rpc)
    if rpc == "Watch":
        stream = method(request, timeout=5)
        try:
            return next(iter(stream))
        finally:
            stream.cancel()
    return method(request, timeout=5)


def denied(stub: regulator_pb2_grpc.RegulatorStub, rpc: str, request: Any) -> str:
    with pytest.raises(grpc.RpcError) as info:
        call(stub, rpc, request)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED, info.value.details()
    return str(info.value.details())


@pytest.mark.parametrize("rpc", sorted(BODIES))
def test_non_regulators_are_denied_on_every_rpc(server: Server, rpc: str) -> None:
    ids = server.net.ids
    for who in ("core", "bank", "s1", "warehouse"):
        message = denied(server.stub, rpc, signed(ids[who], **BODIES[rpc]))
        assert "regulator identities only" in message
    # The regulator's identity with a signature over other bytes.
    forged = signed(ids["regulator"], **BODIES[rpc])
    forged.signature = ids["regulator"].sign(b"something else")
    assert "signature" in denied(server.stub, rpc, forged)
    # A regulator-kind org the channel does not know.
    stranger = make_org("RegulatorMSP", "regulator").member("mallory", "client")
    assert "not a valid member" in denied(server.stub, rpc, signed(stranger, **BODIES[rpc]))
    # A stale (replayed) request.
    stale = sign_request(ids["regulator"], pb.RegulatorRequest(**BODIES[rpc]), now=NOW - 3600)
    assert "timestamp" in denied(server.stub, rpc, stale)


def test_a_wrong_body_is_invalid_argument(server: Server) -> None:
    request = signed(server.net.ids["regulator"], **BODIES["Exposure"])
    with pytest.raises(grpc.RpcError) as info:
        server.stub.Alerts(request, timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_regulator_queries(server: Server) -> None:
    net, stub, reg = server.net, server.stub, server.net.ids["regulator"]
    issued = net.issue("V1", 100_000_000)
    net.run(
        "s1",
        "receivable",
        "SplitVoucher",
        {"voucher_id": "V1", "amounts": [60_000_000, 40_000_000]},
    )
    net.issue("V2", 1_000_000, docs=underlying("V2", invoice_hashes=[sha("invoice V1")]))
    receipt = net.receipt()
    net.value(receipt, 7_000_000)
    net.pledge(receipt, 42_000_000, "LOAN-1")

    channels = stub.ListChannels(signed(reg, list_channels=pb.ListChannelsRequest()))
    (info,) = channels.channels
    assert (info.channel, info.height, info.indicator_height) == (
        CHANNEL,
        net.ledger.height(),
        net.ledger.height(),
    )

    location = net.ledger.tx_location(issued)
    assert location is not None
    by_number = stub.GetBlock(
        signed(reg, get_block=pb.GetBlockRequest(channel=CHANNEL, number=location.block_number))
    )
    assert by_number.txs[0].tx_id == issued
    assert (by_number.txs[0].function, by_number.txs[0].creator_mspid) == (
        "IssueVoucher",
        "CoreMSP",
    )
    by_hash = stub.GetBlock(
        signed(
            reg, get_block=pb.GetBlockRequest(channel=CHANNEL, header_hash=by_number.header_hash)
        )
    )
    assert by_hash.block.header.number == location.block_number
    assert by_hash.commit_hash == net.ledger.commit_hash(location.block_number)

    tx = stub.GetTransaction(signed(reg, get_transaction=pb.GetTransactionRequest(tx_id=issued)))
    assert (tx.channel, tx.validation_code_name, tx.creator_mspid) == (CHANNEL, "VALID", "CoreMSP")
    assert tx.creator_id == "core-client.CoreMSP"
    assert (tx.function, tx.event_name, tx.timestamp) == ("IssueVoucher", "VoucherIssued", T0)
    assert json.loads(tx.args[0])["voucher_id"] == "V1"
    (ns,) = tx.rwset
    assert "\x00voucher\x00V1\x00" in [w.key for w in ns.writes]

    key = "\x00voucher\x00V1\x00"
    page1 = stub.KeyHistory(
        signed(
            reg,
            key_history=pb.KeyHistoryRequest(
                channel=CHANNEL, namespace="receivable", key=key, page_size=2
            ),
        )
    )
    assert page1.modifications[0].tx_id == issued
    assert page1.next_page_token
    page2 = stub.KeyHistory(
        signed(
            reg,
            key_history=pb.KeyHistoryRequest(
                channel=CHANNEL,
                namespace="receivable",
                key=key,
                page_size=2,
                page_token=page1.next_page_token,
            ),
        )
    )
    assert len(page1.modifications) + len(page2.modifications) == 3
    assert page2.next_page_token == ""

    lineage = stub.VoucherLineage(
        signed(reg, voucher_lineage=pb.VoucherLineageRequest(channel=CHANNEL, voucher_id="V1-2"))
    )
    assert [n.voucher_id for n in lineage.nodes] == ["V1", "V1-1", "V1-2"]
    assert lineage.face_total == lineage.leaf_total == 100_000_000
    assert lineage.nodes[0].holders[0].tx_id == issued

    history = stub.ReceiptHistory(
        signed(reg, receipt_history=pb.ReceiptHistoryRequest(channel=CHANNEL, receipt_id=receipt))
    )
    assert len(history.modifications) == 3  # issue, valuation, pledge
    assert json.loads(history.current)["status"] == "PLEDGED"
    assert len(history.pledge_attempt_tx_ids) == 1

    exposure = stub.Exposure(signed(reg, exposure=pb.ExposureRequest(issuer="CoreMSP")))
    (row,) = exposure.exposures
    assert (row.live_face, row.financed_face, row.leaves) == (101_000_000, 0, 3)
    assert {b.label: b.live_face for b in row.buckets}["<=90"] == 101_000_000

    overdue = stub.Overdue(signed(reg, overdue=pb.OverdueRequest()))
    assert list(overdue.issuers) == []
    assert list(overdue.blocked) == []

    ltv = stub.LtvDistribution(signed(reg, ltv_distribution=pb.LtvDistributionRequest()))
    (bank,) = ltv.banks
    assert [(b.label, b.loans) for b in bank.buckets if b.loans] == [("[60%,70%)", 1)]

    exceptions = stub.Exceptions(signed(reg, exceptions=pb.ExceptionsRequest()))
    assert list(exceptions.exceptions) == []

    alerts = stub.Alerts(signed(reg, alerts=pb.AlertsRequest(rule="TRADE_DOC_REUSE")))
    (alert,) = alerts.alerts
    assert alert.subject == sha("invoice V1")
    assert issued in alert.evidence_tx_ids
    assert json.loads(alert.details_json)["first_root"] == "V1"


def test_alerts_paginate(server: Server) -> None:
    net, reg = server.net, server.net.ids["regulator"]
    net.issue("V1", 1_000_000)
    for i in range(5):
        docs = underlying(f"D{i}", invoice_hashes=[sha("invoice V1")])
        net.issue(f"D{i}", 1_000_000, docs=docs, accept=False)
    seen: list[int] = []
    token = ""
    while True:
        page = server.stub.Alerts(
            signed(reg, alerts=pb.AlertsRequest(channel=CHANNEL, page_size=2, page_token=token))
        )
        assert len(page.alerts) <= 2
        seen.extend(a.seq for a in page.alerts)
        token = page.next_page_token
        if not token:
            break
    assert seen == [1, 2, 3, 4, 5]


def test_watch_delivers_new_blocks_and_alerts(server: Server) -> None:
    net, reg = server.net, server.net.ids["regulator"]
    net.issue("V1", 1_000_000)
    stream = server.stub.Watch(signed(reg, watch=pb.WatchRequest()), timeout=10)
    received: list[pb.WatchEvent] = []

    def read() -> None:
        for event in stream:
            received.append(event)
            if event.WhichOneof("event") == "alert":
                return

    reader = threading.Thread(target=read)
    reader.start()
    deadline = time.monotonic() + 5
    while net.hub.subscriber_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert net.hub.subscriber_count() == 1
    issued = net.issue(
        "V2", 1_000_000, docs=underlying("V2", invoice_hashes=[sha("invoice V1")]), accept=False
    )
    reader.join(timeout=5)
    stream.cancel()
    assert not reader.is_alive()
    kinds = [e.WhichOneof("event") for e in received]
    assert kinds == ["block", "alert"]
    location = net.ledger.tx_location(issued)
    assert location is not None
    assert received[0].block.number == location.block_number
    assert received[0].block.channel == CHANNEL
    assert received[0].block.valid_tx_count == 1
    assert received[1].alert.rule == "TRADE_DOC_REUSE"
