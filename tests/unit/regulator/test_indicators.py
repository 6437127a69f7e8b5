"""Indicator tables kept from real endorsed, ordered and committed contract
transactions: exposure, overdue/default and the block list, LTV and margin calls,
exceptions, lineage, each detector with its evidence, rebuild and restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from peer.committer import BlockCommitted
from peer.regulator import queries
from peer.regulator.detectors import DetectorConfig
from peer.regulator.indicators import IndicatorListener, rebuild
from peer.regulator.store import IndicatorStore, k
from tests.unit.regulator.net import CHANNEL, DAY, T0, Net, day, sha, underlying

CH = [CHANNEL]


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    net = Net(tmp_path, DetectorConfig(split_storm_splits=3))
    yield net
    net.close()


def alerts(net: Net, rule: str = "") -> list[dict[str, Any]]:
    rows, _ = queries.page(
        net.store,
        queries.alert_sources(CH, rule),
        1000,
        "",
        resolve=queries.resolve_alert(net.store, rule),
    )
    return [row for _, row in rows]


def exposure_of(net: Net, as_of: str = "", currency: str = "CNY") -> queries.IssuerExposure:
    rows = [r for r in queries.exposure(net.store, CH, "CoreMSP", as_of) if r.currency == currency]
    assert len(rows) == 1
    return rows[0]


def test_exposure_follows_the_voucher_life_cycle(net: Net) -> None:
    net.issue("V1", 100_000_000, accept=False)
    row = exposure_of(net)
    assert (row.live_face, row.pending_face, row.financed_face, row.leaves) == (
        100_000_000,
        100_000_000,
        0,
        1,
    )
    net.run("s1", "receivable", "AcceptVoucher", {"voucher_id": "V1"})
    net.run(
        "s1",
        "receivable",
        "SplitVoucher",
        {"voucher_id": "V1", "amounts": [60_000_000, 40_000_000]},
    )
    net.run("s1", "receivable", "TransferVoucher", {"voucher_id": "V1-1", "to": "Supplier2MSP"})
    net.run(
        "s1",
        "receivable",
        "RequestFinancing",
        {"voucher_id": "V1-2", "financier": "BankMSP"},
    )
    net.run(
        "bank",
        "receivable",
        "ApproveFinancing",
        {"voucher_id": "V1-2", "rate_bps": 350, "registration_ref": "REG-V1-2"},
    )
    row = exposure_of(net)
    assert (row.live_face, row.pending_face, row.financed_face, row.leaves) == (
        100_000_000,
        0,
        40_000_000,
        2,
    )
    # 90 days to maturity from the latest block's date; later as-of dates move buckets.
    assert row.as_of == day(0)
    assert row.buckets["<=90"].live_face == 100_000_000
    assert queries.bucket_of(90) == "<=90"
    later = exposure_of(net, as_of=day(70))
    assert later.buckets["<=30"].live_face == 100_000_000
    assert later.buckets["<=30"].financed_face == 40_000_000
    past = exposure_of(net, as_of=day(91))
    assert past.buckets["past_due"].live_face == 100_000_000
    # A settled leaf leaves the exposure; a USD voucher is its own row.
    net.run(
        "core",
        "receivable",
        "SettleVoucher",
        {"voucher_id": "V1-1", "payment_ref": "PAY-1", "payment_bank": "BankMSP"},
    )
    net.issue("U1", 5_000_00, currency="USD", days=200, payee="Supplier2MSP")
    row = exposure_of(net)
    assert (row.live_face, row.financed_face, row.leaves) == (40_000_000, 40_000_000, 1)
    usd = exposure_of(net, currency="USD")
    assert (usd.live_face, usd.buckets["<=365"].live_face) == (5_000_00, 5_000_00)
    # Lineage: the whole tree, leaves summing to the face, holder paths with tx ids.
    tree = queries.lineage(net.store, CHANNEL, "V1-2")
    assert tree is not None
    assert [n["voucher_id"] for n in tree.nodes] == ["V1", "V1-1", "V1-2"]
    assert tree.face_total == tree.leaf_total == 100_000_000
    statuses = {n["voucher_id"]: (n["status"], n["holder"]) for n in tree.nodes}
    assert statuses == {
        "V1": ("SPLIT", "Supplier1MSP"),
        "V1-1": ("PAID", "Supplier2MSP"),
        "V1-2": ("FINANCED", "BankMSP"),
    }
    paths = {n["voucher_id"]: [h[0] for h in n["holders"]] for n in tree.nodes}
    assert paths["V1-1"] == ["Supplier1MSP", "Supplier2MSP"]
    assert paths["V1-2"] == ["Supplier1MSP", "BankMSP"]
    assert all(h[1] for n in tree.nodes for h in n["holders"])


def test_overdue_default_and_the_block_list(net: Net) -> None:
    net.issue("V2", 30_000_000, days=10)
    net.run(
        "s1",
        "receivable",
        "SplitVoucher",
        {"voucher_id": "V2", "amounts": [10_000_000, 20_000_000]},
    )
    net.run(
        "core",
        "receivable",
        "SettleVoucher",
        {"voucher_id": "V2-1", "payment_ref": "PAY-2", "payment_bank": "BankMSP"},
    )
    net.run("s1", "receivable", "MarkOverdue", {"root_id": "V2"}, ts=T0 + 12 * DAY)
    issuers, blocked = queries.overdue(net.store, CH, "", "")
    assert [
        (r.issuer, r.overdue_amount, r.defaulted_amount, r.overdue_leaves) for r in issuers
    ] == [("CoreMSP", 20_000_000, 0, 1)]
    assert issuers[0].max_days_overdue == 2  # as of the latest block's date
    assert blocked == []
    tx_default, _ = net.run("s1", "receivable", "MarkDefault", {"root_id": "V2"}, ts=T0 + 45 * DAY)
    issuers, blocked = queries.overdue(net.store, CH, "CoreMSP", day(50))
    assert [(r.overdue_amount, r.defaulted_amount, r.defaulted_leaves) for r in issuers] == [
        (0, 20_000_000, 1)
    ]
    assert issuers[0].max_days_overdue == 40
    assert [(b.issuer, b.root_id, b.since_tx) for b in blocked] == [("CoreMSP", "V2", tx_default)]
    assert [a["subject"] for a in alerts(net, "VOUCHER_OVERDUE")] == ["V2"]
    blocked_alerts = alerts(net, "ISSUER_BLOCKED")
    assert [a["subject"] for a in blocked_alerts] == ["CoreMSP"]
    assert tx_default in blocked_alerts[0]["evidence_tx_ids"]


def test_ltv_distribution_and_margin_calls(net: Net) -> None:
    r1 = net.receipt()
    net.value(r1, 7_000_000)  # 10 t × CNY 70,000 = 70,000,000 fen
    net.pledge(r1, 42_000_000, "LOAN-1")  # LTV 60%
    r2 = net.receipt()
    net.value(r2, 7_000_000)
    net.pledge(r2, 30_000_000, "LOAN-2", bank="Bank2MSP")  # 42.8%
    rows = {(r.bank, r.currency): r for r in queries.ltv_distribution(net.store, CH, "")}
    bank1 = rows[("BankMSP", "CNY")]
    assert (bank1.loans, bank1.outstanding) == (1, 42_000_000)
    assert [(b.label, b.loans) for b in bank1.buckets if b.loans] == [("[60%,70%)", 1)]
    assert [(b.label, b.loans) for b in rows[("Bank2MSP", "CNY")].buckets if b.loans] == [
        ("[0%,50%)", 1)
    ]
    # The price falls: 42,000,000 / 50,000,000 = 84% ≥ the 80% call threshold.
    tx_call = net.value(r1, 5_000_000, ts=T0 + 60)
    bank1 = queries.ltv_distribution(net.store, CH, "BankMSP")[0]
    assert [(b.label, b.loans) for b in bank1.buckets if b.loans] == [("[80%,90%)", 1)]
    calls, token = queries.page(net.store, [(CHANNEL, k("mc", ""))], 10, "")
    assert token == ""
    assert [(c["bank"], c["loan_id"], c["ltv_bps"], c["since_tx"]) for _, c in calls] == [
        ("BankMSP", "LOAN-1", 8400, tx_call)
    ]
    assert calls[0][1]["due_date"] == day(5)
    assert [a["subject"] for a in alerts(net, "MARGIN_CALL")] == ["BankMSP/LOAN-1"]
    # Cured by a better price: the margin call is no longer outstanding.
    net.value(r1, 7_000_000, ts=T0 + 120)
    assert list(net.store.scan(CHANNEL, k("mc", ""))) == []


def test_long_tenor_and_sme_term_exceptions(net: Net) -> None:
    net.issue("L1", 50_000_000, days=200)
    net.run("s1", "receivable", "RequestFinancing", {"voucher_id": "L1", "financier": "BankMSP"})
    tx_review, _ = net.run(
        "bank",
        "receivable",
        "ApproveFinancing",
        {
            "voucher_id": "L1",
            "rate_bps": 400,
            "registration_ref": "REG-L1",
            "term_review_ack": True,
            "term_review_reason": "shipbuilding cycle",
        },
    )
    net.issue(
        "S1",
        8_000_000,
        days=80,
        sme_flag=True,
        industry_norm_exception_code="IND-EXC-7",
    )
    rows, _ = queries.page(net.store, queries.exception_sources(CH, ""), 100, "")
    by_kind = {("tenor_days" in r): r for _, r in rows}
    long_tenor, sme = by_kind[True], by_kind[False]
    assert (long_tenor["voucher_id"], long_tenor["tenor_days"]) == ("L1", 200)
    assert long_tenor["reasons"] == ["shipbuilding cycle"]
    assert tx_review in long_tenor["tx_ids"]
    assert (sme["voucher_id"], sme["code"], sme["amount"], sme["latest"]) == (
        "S1",
        "IND-EXC-7",
        8_000_000,
        day(65),
    )
    only_sme, _ = queries.page(net.store, queries.exception_sources(CH, "SME_TERM"), 100, "")
    assert [r["voucher_id"] for _, r in only_sme] == ["S1"]
    assert [a["subject"] for a in alerts(net, "LONG_TENOR")] == ["L1"]
    assert [a["subject"] for a in alerts(net, "SME_TERM_EXCEPTION")] == ["S1"]


def test_circular_transfer_is_alerted_with_the_cycle_as_evidence(net: Net) -> None:
    issued = net.issue("C1", 10_000_000)
    t1, _ = net.run(
        "s1", "receivable", "TransferVoucher", {"voucher_id": "C1", "to": "Supplier2MSP"}
    )
    t2, _ = net.run(
        "s2", "receivable", "TransferVoucher", {"voucher_id": "C1", "to": "Supplier3MSP"}
    )
    assert alerts(net, "CIRCULAR_TRANSFER") == []
    t3, _ = net.run(
        "s3", "receivable", "TransferVoucher", {"voucher_id": "C1", "to": "Supplier1MSP"}
    )
    (alert,) = alerts(net, "CIRCULAR_TRANSFER")
    assert alert["subject"] == "C1"
    assert alert["evidence_tx_ids"] == [issued, t1, t2, t3]
    assert alert["details"]["path"] == [
        "Supplier1MSP",
        "Supplier2MSP",
        "Supplier3MSP",
        "Supplier1MSP",
    ]
    location = net.ledger.tx_location(t3)
    assert location is not None
    assert alert["block_number"] == location.block_number


def test_trade_document_reuse_is_alerted(net: Net) -> None:
    first = net.issue("D1", 10_000_000)
    reused = underlying("D2", invoice_hashes=[sha("invoice D1")])
    second = net.issue("D2", 20_000_000, docs=reused, payee="Supplier2MSP")
    (alert,) = alerts(net, "TRADE_DOC_REUSE")
    assert alert["subject"] == sha("invoice D1")
    assert alert["evidence_tx_ids"] == [first, second]
    assert alert["details"]["first_root"] == "D1"
    assert alert["details"]["root_id"] == "D2"
    assert alert["details"]["contract_flagged"] is True
    # Reusing a contract hash (the contract itself does not check it) is caught too.
    net.issue("D3", 5_000_000, docs=underlying("D3", contract_hash=sha("contract D1")))
    assert [a["details"]["kind"] for a in alerts(net, "TRADE_DOC_REUSE")] == ["invoice", "contract"]


def test_split_storm_and_dust_leaves(net: Net) -> None:
    net.issue("P1", 1_000_000)
    splits = []
    node = "P1"
    for i in range(4):  # 4 splits within one hour > k=3
        amount = net.ledger.get_state("receivable", f"\x00voucher\x00{node}\x00")
        assert amount is not None
        face = json.loads(amount.value)["amount"]
        tx, _ = net.run(
            "s1",
            "receivable",
            "SplitVoucher",
            {"voucher_id": node, "amounts": [face // 2, face - face // 2]},
            ts=T0 + 600 * i,
        )
        splits.append(tx)
        node = f"{node}-1"
    (storm,) = alerts(net, "SPLIT_STORM")
    assert storm["subject"] == "P1"
    assert storm["evidence_tx_ids"] == splits
    assert storm["details"]["splits"] == 4
    dust_tx, _ = net.run(
        "s1", "receivable", "SplitVoucher", {"voucher_id": "P1-2", "amounts": [499_995, 5]}
    )
    (dust,) = alerts(net, "SPLIT_DUST")
    assert dust["details"]["children"] == {"P1-2-2": 5}
    assert dust["evidence_tx_ids"] == [dust_tx]


def test_repeated_pledge_attempt_and_stock_shortfall(net: Net) -> None:
    receipt = net.receipt()
    net.value(receipt, 7_000_000)
    pledged = net.pledge(receipt, 40_000_000, "LOAN-9")
    attempt, _ = net.run(
        "bank2",
        "warehouse",
        "RecordPledgeAttempt",
        {"receipt_id": receipt, "bank": "Bank2MSP", "error_code": "ALREADY_PLEDGED"},
    )
    (alert,) = alerts(net, "REPEATED_PLEDGE")
    assert alert["subject"] == receipt
    assert alert["evidence_tx_ids"] == [pledged, attempt]
    row = net.store.get(CHANNEL, k("rc", receipt))
    assert row is not None
    issued = row["created_tx"]
    shortfall = net.attest(5_000)  # 5 t attested, 10 t on live receipts
    (stock,) = alerts(net, "STOCK_SHORTFALL")
    assert stock["details"]["frozen_receipts"] == [receipt]
    assert stock["evidence_tx_ids"] == [issued, shortfall]


def _story(net: Net) -> None:
    net.issue("V1", 100_000_000)
    net.run(
        "s1",
        "receivable",
        "SplitVoucher",
        {"voucher_id": "V1", "amounts": [70_000_000, 30_000_000]},
    )
    net.run("s1", "receivable", "TransferVoucher", {"voucher_id": "V1-1", "to": "Supplier2MSP"})
    net.run("s2", "receivable", "TransferVoucher", {"voucher_id": "V1-1", "to": "Supplier1MSP"})
    net.issue("V2", 10_000_000, docs=underlying("V2", invoice_hashes=[sha("invoice V1")]))
    receipt = net.receipt()
    net.value(receipt, 7_000_000)
    net.pledge(receipt, 42_000_000, "LOAN-1")
    net.value(receipt, 5_000_000, ts=T0 + 60)


def test_rebuild_from_blocks_gives_identical_tables(net: Net, tmp_path: Path) -> None:
    _story(net)
    live = net.store.digest(CHANNEL)
    assert net.store.height(CHANNEL) == net.ledger.height()
    fresh = IndicatorStore.open(tmp_path / "rebuilt.db")
    try:
        replayed = rebuild(net.ledger, fresh, CHANNEL, net.config)
        assert replayed == net.ledger.height()
        assert fresh.digest(CHANNEL) == live
    finally:
        fresh.close()
    # Rebuilding in place (the operator's command) gives the same tables again.
    rebuild(net.ledger, net.store, CHANNEL, net.config)
    assert net.store.digest(CHANNEL) == live


def test_restart_resumes_from_the_savepoint(tmp_path: Path) -> None:
    net = Net(tmp_path / "a", DetectorConfig(split_storm_splits=3))
    try:
        net.issue("V1", 100_000_000)
        # The regulator's store goes away; blocks keep committing without it.
        net.committer.remove_listener(net.listener)
        net.store.close()
        stopped_at = net.ledger.height()
        net.run(
            "s1", "receivable", "SplitVoucher", {"voucher_id": "V1", "amounts": [1, 99_999_999]}
        )
        net.run("s1", "receivable", "TransferVoucher", {"voucher_id": "V1-2", "to": "Supplier2MSP"})
        net.store = IndicatorStore.open(tmp_path / "a" / "regulator.db")
        assert net.store.height(CHANNEL) == stopped_at
        listener = IndicatorListener(CHANNEL, net.ledger, net.store, config=net.config)
        assert listener.catch_up() == 2
        net.committer.add_listener(listener)
        net.run("s2", "receivable", "TransferVoucher", {"voucher_id": "V1-2", "to": "Supplier3MSP"})
        assert net.store.height(CHANNEL) == net.ledger.height()
        resumed = net.store.digest(CHANNEL)
        # A gap is filled from the ledger when a block arrives ahead of the tables.
        gap = IndicatorStore.open(tmp_path / "gap.db")
        try:
            behind = IndicatorListener(CHANNEL, net.ledger, gap, config=net.config)
            last = net.ledger.block(net.ledger.height() - 1)
            assert last is not None
            behind.block_committed(BlockCommitted(last, b"", ()))
            assert gap.digest(CHANNEL) == resumed
            behind.block_committed(BlockCommitted(last, b"", ()))  # already applied: ignored
            assert gap.digest(CHANNEL) == resumed
        finally:
            gap.close()
        rows = queries.exposure(net.store, CH, "", "")
        assert [(r.live_face, r.leaves) for r in rows] == [(100_000_000, 2)]
    finally:
        net.close()


def test_rebuild_command_on_a_stopped_peer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from peer.regulator.rebuild import main

    net = Net(tmp_path / "peer", DetectorConfig(split_storm_splits=3))
    try:
        _story(net)
        live = net.store.digest(CHANNEL).hex()
        height = net.ledger.height()
    finally:
        net.close()
    assert main([str(tmp_path / "peer")]) == 0
    assert capsys.readouterr().out.strip() == f"{CHANNEL}: {height} blocks, tables {live}"
