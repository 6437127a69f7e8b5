"""DOMAIN §8 scenarios 1–8 (receivable happy paths) and the §2.5 worked example."""

from __future__ import annotations

import datetime as dt

from chaincode.contracts.receivable_financing import discount
from tests.unit.contracts.conftest import Orgs
from tests.unit.contracts.ledger import Clock
from tests.unit.contracts.receivable_support import Receivables, check_invariants

FACE = 100_000_000


def _scenario_3(rc: Receivables, orgs: Orgs) -> None:
    """S1: issue + accept V, split [60M, 40M], transfer 25M of V-1 to S2."""
    rc.issue("V")
    rc.submit("SplitVoucher", orgs.s1, voucher_id="V", amounts=[60_000_000, 40_000_000])
    rc.submit("TransferVoucher", orgs.s1, voucher_id="V-1", to="Supplier2MSP", amount=25_000_000)


def _scenario_4(rc: Receivables, orgs: Orgs) -> dict[str, object]:
    _scenario_3(rc, orgs)
    rc.submit("RequestFinancing", orgs.s2, voucher_id="V-1-1", financier="BankMSP")
    result: dict[str, object] = rc.submit(
        "ApproveFinancing", orgs.bank, voucher_id="V-1-1", rate_bps=350, registration_ref="REG-1"
    )
    return result


def test_worked_example_discount_875000_fen() -> None:
    start = dt.date(2025, 7, 1)
    terms = discount(FACE, 350, start, start + dt.timedelta(days=90), 360, 0)
    assert terms.interest == 875_000
    assert terms.net_proceeds == 99_125_000
    assert terms.days == 90


def test_s01_issue_and_accept(rc: Receivables, orgs: Orgs) -> None:
    result = rc.issue("V", accept=False)
    assert result["status"] == "PENDING_ACCEPTANCE"
    assert rc.ledger.events_of("VoucherIssued")
    rc.submit("AcceptVoucher", orgs.s1, voucher_id="V")
    v = rc.voucher("V")
    assert (v["status"], v["holder"]) == ("ACTIVE", "Supplier1MSP")
    assert rc.root("V")["face_total"] == FACE
    accepted = rc.ledger.events_of("VoucherAccepted")[0]
    change = next(c for c in accepted["changes"] if c["type"] == "Voucher")
    assert set(change) == {"type", "key", "tx_id", "actor", "ts", "before_hash", "after_hash"}
    assert change["actor"] == "Supplier1MSP"
    assert change["before_hash"]
    assert change["after_hash"] != change["before_hash"]
    check_invariants(rc.ledger)


def test_s02_split(rc: Receivables, orgs: Orgs) -> None:
    rc.issue("V")
    result = rc.submit("SplitVoucher", orgs.s1, voucher_id="V", amounts=[60_000_000, 40_000_000])
    assert [c["voucher_id"] for c in result["children"]] == ["V-1", "V-2"]
    parent = rc.voucher("V")
    assert parent["status"] == "SPLIT"
    kids = [rc.voucher("V-1"), rc.voucher("V-2")]
    for kid in kids:
        assert kid["status"] == "ACTIVE"
        assert kid["depth"] == 1
        for attr in ("maturity_date", "issuer", "currency"):
            assert kid[attr] == parent[attr]
    assert sum(k["amount"] for k in kids) == parent["amount"]
    check_invariants(rc.ledger)


def test_s03_partial_transfer_is_atomic_split_then_transfer(rc: Receivables, orgs: Orgs) -> None:
    _scenario_3(rc, orgs)
    assert rc.voucher("V-1")["status"] == "SPLIT"
    a1, a2 = rc.voucher("V-1-1"), rc.voucher("V-1-2")
    assert (a1["amount"], a1["holder"], a1["transfer_hops"]) == (25_000_000, "Supplier2MSP", 1)
    assert (a2["amount"], a2["holder"], a2["transfer_hops"]) == (35_000_000, "Supplier1MSP", 0)
    check_invariants(rc.ledger)


def test_s04_financing_218750_interest(rc: Receivables, orgs: Orgs) -> None:
    result = _scenario_4(rc, orgs)
    assert (result["interest"], result["net_proceeds"], result["days"]) == (218_750, 24_781_250, 90)
    a1 = rc.voucher("V-1-1")
    assert (a1["status"], a1["holder"]) == ("FINANCED", "BankMSP")
    assert a1["registration_ref"] == "REG-1"
    assert a1["transfer_hops"] == 2
    assert a1["financing"]["applicant"] == "Supplier2MSP"
    check_invariants(rc.ledger)


def test_s05_settle_whole_root_at_maturity(rc: Receivables, orgs: Orgs, clock: Clock) -> None:
    _scenario_4(rc, orgs)
    clock.advance(90)
    result = rc.submit(
        "SettleVoucher", orgs.core, root_id="V", payment_ref="PAY-1", payment_bank="BankMSP"
    )
    paid_to = {p["voucher_id"]: (p["paid_to"], p["principal"]) for p in result["payouts"]}
    assert paid_to == {
        "V-1-1": ("BankMSP", 25_000_000),
        "V-1-2": ("Supplier1MSP", 35_000_000),
        "V-2": ("Supplier1MSP", 40_000_000),
    }
    for vid in paid_to:
        assert rc.voucher(vid)["status"] == "PAID"
    root = rc.root("V")
    assert root["paid_total"] == root["face_total"] == FACE
    assert root["status"] == "PAID"
    check_invariants(rc.ledger)


def test_s06_regulator_sees_whole_lineage(rc: Receivables, orgs: Orgs) -> None:
    _scenario_4(rc, orgs)
    tree = rc.query("Lineage", orgs.regulator, root_id="V")
    ids = [n["voucher_id"] for n in tree["nodes"]]
    assert ids == ["V", "V-1", "V-1-1", "V-1-2", "V-2"]
    assert all(n["created_tx"] and n["updated_tx"] and n["holder"] for n in tree["nodes"])
    leaves = [n for n in tree["nodes"] if n["status"] != "SPLIT"]
    assert sum(n["amount"] for n in leaves) == tree["leaves_total"] == FACE
    # The regulator also reads the financing terms (rate, fees) of every node.
    assert tree["nodes"][2]["financing"]["rate_bps"] == 350


def test_s07_reject_is_free_and_leaves_exposure(rc: Receivables, orgs: Orgs) -> None:
    rc.issue("V", accept=False)
    assert rc.query("IssuerStatus", orgs.core, issuer="CoreMSP")["outstanding"] == FACE
    rc.submit("RejectVoucher", orgs.s1, voucher_id="V", reason="prefer cash")
    assert rc.voucher("V")["status"] == "REJECTED"
    assert rc.root("V")["status"] == "REJECTED"
    assert rc.query("IssuerStatus", orgs.regulator, issuer="CoreMSP")["outstanding"] == 0
    assert rc.query("HoldingsOf", orgs.s1, org="Supplier1MSP")["vouchers"] == []
    assert rc.voucher("V")["financing"] is None  # no fee of any kind recorded
    check_invariants(rc.ledger)


def test_s08_cancel_before_acceptance(rc: Receivables, orgs: Orgs) -> None:
    rc.issue("V", accept=False)
    rc.submit("CancelVoucher", orgs.core, voucher_id="V")
    assert rc.voucher("V")["status"] == "CANCELLED"
    check_invariants(rc.ledger)


def test_queries_history_and_holdings(rc: Receivables, orgs: Orgs) -> None:
    _scenario_3(rc, orgs)
    history = rc.query("History", orgs.s1, voucher_id="V")
    assert [h["value"]["status"] for h in history] == ["PENDING_ACCEPTANCE", "ACTIVE", "SPLIT"]
    held = rc.query("HoldingsOf", orgs.s2, org="Supplier2MSP")["vouchers"]
    assert [v["voucher_id"] for v in held] == ["V-1-1"]
    assert rc.query("GetVoucher", orgs.s2, voucher_id="V")["status"] == "SPLIT"
    assert rc.query("GetRoot", orgs.regulator, root_id="V")["face_total"] == FACE
