"""Property test: random receipt operations by random callers never break the
anti-double-pledge invariants of DOMAIN §4.5, and the regulator never changes
state."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaincode.contracts import warehouse_rules as rules
from chaincode.errors import ChaincodeError
from chaincode.stub import create_composite_key
from tests.unit.contracts.conftest import ORGS
from tests.unit.contracts.ledger import Clock, TestLedger, creator_of
from tests.unit.contracts.test_warehouse_world import PRICE, TONNE, World

SITES = ("SH01", "SZ01")
CALLERS = (ORGS.s1, ORGS.s2, ORGS.bank, ORGS.bank2, ORGS.warehouse, ORGS.appraiser, ORGS.regulator)
LOTS = tuple(f"L{i}" for i in range(6))

HOLDER, PLEDGEE = "HOLDER", "PLEDGEE"
"""Resolved when the operation runs: the receipt's holder, the loan's bank."""


def caller_for(natural: Any) -> st.SearchStrategy[Any]:
    """Mostly the caller who may succeed, sometimes anyone (the regulator too)."""
    return st.tuples(st.integers(0, 9), st.sampled_from(CALLERS)).map(
        lambda pair: natural if pair[0] < 8 else pair[1]
    )


index = st.integers(min_value=0, max_value=7)
tonnes = st.integers(min_value=1, max_value=250)
pledge = st.tuples(
    st.just("pledge"),
    index,
    st.integers(1, 9000),
    st.sampled_from(("BankMSP", "Bank2MSP")),
    caller_for(HOLDER),
)

operations = st.one_of(
    pledge,
    pledge,
    st.tuples(
        st.just("attest"), st.sampled_from(SITES), st.integers(0, 800), caller_for(ORGS.warehouse)
    ),
    st.tuples(
        st.just("issue"),
        st.sampled_from(SITES),
        tonnes,
        st.lists(st.sampled_from(LOTS), min_size=1, max_size=2, unique=True),
        st.sampled_from(("Supplier1MSP", "Supplier2MSP")),
        caller_for(ORGS.warehouse),
    ),
    st.tuples(
        st.just("value"), index, st.integers(PRICE // 2, 2 * PRICE), caller_for(ORGS.appraiser)
    ),
    st.tuples(st.just("topup"), index, index, st.integers(0, 10**9), caller_for(HOLDER)),
    st.tuples(st.just("repay"), index, st.integers(0, 1), caller_for(PLEDGEE)),
    st.tuples(st.just("declare"), index, caller_for(PLEDGEE)),
    st.tuples(st.just("transfer"), index, caller_for(PLEDGEE)),
    st.tuples(st.just("consent"), index, tonnes, caller_for(PLEDGEE)),
    st.tuples(st.just("instruct"), index, tonnes, caller_for(HOLDER)),
    st.tuples(st.just("outbound"), index, tonnes, caller_for(ORGS.warehouse)),
    st.tuples(st.just("advance"), st.integers(1, 8)),
)


def _pick(items: list[str], i: int) -> str:
    return items[i % len(items)] if items else "NONE"


def _caller(world: World, op: tuple[Any, ...], receipts: list[str], loans: list[str]) -> Any:
    who = op[-1]
    if who == HOLDER:
        receipt = world.ledger.get(rules.receipt_key(_pick(receipts, op[1]))) or {}
        return creator_of(receipt.get("holder", "Supplier1MSP"))
    if who == PLEDGEE:
        if op[0] == "consent":
            receipt = world.ledger.get(rules.receipt_key(_pick(receipts, op[1]))) or {}
            return creator_of((receipt.get("pledge") or {}).get("pledgee_bank", "BankMSP"))
        return creator_of(_pick(loans, op[1]).split("/")[0])
    return who


def _apply(world: World, op: tuple[Any, ...], receipts: list[str], loans: list[str]) -> None:
    """One operation; a rejection must leave the ledger unchanged."""
    kind = op[0]
    if kind == "advance":
        world.ledger.clock.advance(op[1])
        return
    who = _caller(world, op, receipts, loans)
    args: dict[str, Any]
    if kind == "attest":
        fn, args = (
            "AttestInventory",
            {
                "warehouse_id": op[1],
                "sku": "CU-A",
                "unit": "kg",
                "quantity": op[2] * TONNE,
                "method": "IOT",
            },
        )
    elif kind == "issue":
        fn = "IssueReceipt"
        args = world.issue_args(op[2] * TONNE, site=op[1], lots=op[3], depositor=op[4])
    elif kind == "value":
        fn, args = (
            "UpdateValuation",
            {
                "receipt_id": _pick(receipts, op[1]),
                "unit_price": op[2],
                "price_unit_quantity": TONNE,
                "currency": "CNY",
            },
        )
    elif kind == "pledge":
        receipt_id = _pick(receipts, op[1])
        receipt = world.ledger.get(rules.receipt_key(receipt_id)) or {}
        value = rules.collateral_value(receipt) if receipt else 0
        principal = max(value * op[2] // 10_000, 1)
        fn = "PledgeReceipt"
        args = world.pledge_args(receipt_id, principal, bank=op[3], loan_id=f"LN{len(loans)}")
    elif kind == "topup":
        fn = "TopUp"
        args = {"receipt_id": _pick(receipts, op[1])}
        if op[3] % 2:
            args["cash_margin"] = op[3] + 1
        else:
            args["add_receipt_id"] = _pick(receipts, op[2])
            args["registration_ref"] = f"CRC-TOP-{op[3]}"
    elif kind in ("repay", "declare", "transfer"):
        fn = {
            "repay": "RepayAndRelease",
            "declare": "DeclareDefault",
            "transfer": "TransferToPledgee",
        }[kind]
        args = {"loan_id": _pick(loans, op[1]).split("/")[-1], "payment_ref": "PAY"}
        if kind == "repay" and op[2]:
            args["amount"] = 1
    else:
        fn = {"consent": "ConsentOutbound", "instruct": "InstructOutbound", "outbound": "Outbound"}[
            kind
        ]
        receipt_id = _pick(receipts, op[1])
        receipt = world.ledger.get(rules.receipt_key(receipt_id)) or {}
        quantity = min(op[2] * TONNE, receipt.get("goods", {}).get("quantity", TONNE) or TONNE)
        pending = receipt.get("pending_outbound")
        if fn == "Outbound" and pending and op[2] % 5:
            quantity = pending["quantity"]  # mostly what the holder instructed
        args = {"receipt_id": receipt_id, "quantity": quantity}
    before = world.ledger.state_hash()
    error: ChaincodeError | None = None
    try:
        result = world.call(fn, args, who)
    except ChaincodeError as exc:
        error = exc
    if error is not None:
        assert world.ledger.state_hash() == before, f"{fn} rejected ({error.code}) but wrote"
        if who == ORGS.regulator:
            assert error.code == "READ_ONLY_ROLE"
        return
    assert who != ORGS.regulator, f"the regulator managed to call {fn}"
    if fn == "IssueReceipt":
        receipts.append(result["receipt_id"])
    elif fn == "PledgeReceipt":
        loans.append(f"{result['bank']}/{result['loan_id']}")


def _check_invariants(ledger: TestLedger) -> None:
    def records(object_type: str) -> list[tuple[str, Any]]:
        prefix = create_composite_key(object_type, [])
        return [(k, ledger.get(k)) for k in ledger.keys(prefix)]

    receipts = {r["receipt_id"]: r for _, r in records("receipt")}
    live = {rid: r for rid, r in receipts.items() if r["status"] not in rules.TERMINAL}
    # Σ live quantity per site+SKU ≤ last attested stock, unless frozen by a shortfall.
    totals: dict[tuple[str, str], int] = defaultdict(int)
    frozen: dict[tuple[str, str], bool] = defaultdict(bool)
    for r in live.values():
        line = (r["warehouse_id"], r["goods"]["sku"])
        totals[line] += r["goods"]["quantity"]
        frozen[line] |= r["status"] == rules.FROZEN
    for _, stock in records("stock"):
        line = (stock["warehouse_id"], stock["sku"])
        assert stock["live_quantity"] == totals[line]
        assert sorted(stock["live_receipts"]) == sorted(
            rid for rid, r in live.items() if (r["warehouse_id"], r["goods"]["sku"]) == line
        )
        if not frozen[line]:
            assert totals[line] <= stock["book_quantity"] <= stock["attested_quantity"]
        else:
            assert all(
                r["status"] == rules.FROZEN
                for r in live.values()
                if (r["warehouse_id"], r["goods"]["sku"]) == line
            )
    # Every lot maps to at most one live receipt, and back.
    lots_seen: dict[tuple[str, str], str] = {}
    for rid, r in live.items():
        for lot in r["goods"]["lot_ids"]:
            assert (r["warehouse_id"], lot) not in lots_seen
            lots_seen[(r["warehouse_id"], lot)] = rid
    lot_keys = {
        (k.split("\x00")[2], k.split("\x00")[3]): v["receipt_id"] for k, v in records("lot")
    }
    assert lot_keys == lots_seen
    # At most one live pledge per receipt; it sits in exactly one open loan.
    open_loans = [loan for _, loan in records("wr_loan") if loan["status"] in rules.ENCUMBERED]
    in_loans: dict[str, int] = defaultdict(int)
    for loan in open_loans:
        assert loan["principal"] <= loan["cap_at_pledge"]
        assert loan["cap_at_pledge"] == loan["value_at_pledge"] * loan["ltv_max_bps"] // 10_000
        for rid in loan["receipts"]:
            in_loans[rid] += 1
            assert receipts[rid]["pledge"]["loan_id"] == loan["loan_id"]
            assert rules.effective_status(receipts[rid]) == loan["status"]
    for rid, r in receipts.items():
        assert in_loans[rid] == (1 if r["pledge"] is not None else 0)
        if r["pledge"] is None:
            assert rules.effective_status(r) not in rules.ENCUMBERED


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(operations, min_size=10, max_size=40))
def test_random_receipt_operations_keep_the_registry_invariants(
    ops: list[tuple[Any, ...]],
) -> None:
    world = World(TestLedger(clock=Clock("2025-07-01")))
    for site in SITES:
        world.site(site)
    world.attest(600 * TONNE, site="SH01")
    receipts = [
        world.issue(200 * TONNE, lots=["L0"], depositor="Supplier1MSP"),
        world.issue(200 * TONNE, lots=["L1"], depositor="Supplier2MSP"),
    ]
    for receipt_id in receipts:
        world.value(receipt_id)
    loans: list[str] = []
    for op in ops:
        _apply(world, op, receipts, loans)
        _check_invariants(world.ledger)
