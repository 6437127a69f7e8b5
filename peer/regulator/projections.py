"""Pure projections from committed contract records to indicator rows.

A projection of one ledger record is an `Effects`: integer aggregate vectors to
add (`aggregates`) and rows to hold (`rows`). When the record changes, the
listener subtracts the old effects and adds the new ones, so every update is
O(keys the transaction changed), never a scan (issue 7 item 3).

Aggregate keys and their vectors (money in minor units):

* `ext/<issuer>/<ccy>`: [live, financed, pending, leaves] — unpaid leaves.
* `exf/<issuer>/<ccy>/<node>`: the same vectors by maturity date, kept as a
  Fenwick (binary indexed) tree over the day number of the maturity date
  (`fenwick_nodes`). A bucket "matures within (a, b] days of the as-of date" is
  a difference of two prefix sums, each O(log DAYS) reads, so an exposure query
  costs O(issuers × currencies × log DAYS): independent of the number of
  vouchers AND of the number of distinct maturity dates.
* `odt/<issuer>/<ccy>`: [overdue, defaulted, overdue leaves, defaulted leaves];
  `odf/<issuer>/<ccy>/<node>`: Fenwick tree of [overdue or defaulted leaves]
  by maturity day, to find the oldest unpaid maturity in O(log DAYS).
* `ltv/<bank>/<ccy>/<bucket index>`: [loans, exposure] of live receipt loans.

Rows: `mc/<bank>/<loan_id>` (outstanding margin call), `lt/<root>` is kept by
the listener (long-tenor roots; reasons arrive later with financing).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from peer.regulator.store import k

# Voucher statuses (DOMAIN §2.3; the contract's names).
PENDING_ACCEPTANCE = "PENDING_ACCEPTANCE"
OVERDUE = "OVERDUE"
DEFAULTED = "DEFAULTED"
SPLIT = "SPLIT"
LIVE = frozenset(
    {PENDING_ACCEPTANCE, "ACTIVE", "FINANCING_PENDING", "FINANCED", OVERDUE, DEFAULTED}
)
"""Leaf statuses that still carry an unpaid claim on the issuer (live face)."""

# Receipt-loan statuses that still carry exposure (DOMAIN §4.3).
LIVE_LOAN = frozenset({"PLEDGED", "MARGIN_CALL", "DEFAULTED", "LIQUIDATING"})
MARGIN_CALL = "MARGIN_CALL"

LTV_BOUNDS_BPS: tuple[int, ...] = (5000, 6000, 7000, 7500, 8000, 9000)
"""LTV bucket edges: [0,50%), [50,60), [60,70), [70,75), [75,80), [80,90), [90%,∞)
— the paper's 50–70% band and the warn/call/liquidate defaults (75/80/90%)."""


def ltv_bucket(ltv_bps: int) -> int:
    """Index of the bucket `[LTV_BOUNDS_BPS[i-1], LTV_BOUNDS_BPS[i])` holding `ltv_bps`."""
    for i, bound in enumerate(LTV_BOUNDS_BPS):
        if ltv_bps < bound:
            return i
    return len(LTV_BOUNDS_BPS)


def ltv_bucket_range(index: int) -> tuple[int, int]:
    """(lo inclusive, hi exclusive; -1 = unbounded) of bucket `index`."""
    lo = 0 if index == 0 else LTV_BOUNDS_BPS[index - 1]
    hi = LTV_BOUNDS_BPS[index] if index < len(LTV_BOUNDS_BPS) else -1
    return lo, hi


FENWICK_BITS = 17
FENWICK_SIZE = 1 << FENWICK_BITS
"""Day numbers 0 .. 2**17 - 1: 1970-01-01 to year 2328."""
EPOCH = dt.date(1970, 1, 1)


def day_number(date: str) -> int:
    """Days since 1970-01-01 of a YYYY-MM-DD date, clamped to the tree."""
    days = (dt.date.fromisoformat(date) - EPOCH).days
    return min(max(days, 0), FENWICK_SIZE - 1)


def fenwick_nodes(day: int) -> list[str]:
    """The tree nodes (fixed-width, so keys sort numerically) an update at day
    number `day` touches: i = day + 1, then i += i & -i while i ≤ size."""
    nodes = []
    i = day + 1
    while i <= FENWICK_SIZE:
        nodes.append(f"{i:06d}")
        i += i & -i
    return nodes


def fenwick_prefix_nodes(day: int) -> list[str]:
    """The nodes whose sum is the total over day numbers `[0, day]`."""
    nodes = []
    i = min(day, FENWICK_SIZE - 1) + 1
    while i > 0:
        nodes.append(f"{i:06d}")
        i -= i & -i
    return nodes


@dataclass(frozen=True)
class Effects:
    """`aggregates`: key group → the vector added to EVERY key of the group (a
    Fenwick update is one group: its node keys); `rows`: key → row."""

    aggregates: Mapping[tuple[str, ...], tuple[int, ...]] = field(default_factory=dict)
    rows: Mapping[str, Any] = field(default_factory=dict)


NO_EFFECTS = Effects()


# --- vouchers -----------------------------------------------------------------------


def voucher_projection(
    record: Mapping[str, Any], holders: list[list[Any]], created_at: int, updated_at: int
) -> dict[str, Any]:
    """The regulator's view of one voucher node; `holders` is its holder path
    `[[holder, tx_id, ts], ...]` from the root's payee (kept by the listener)."""
    financing = record.get("financing") or None
    review = (financing or {}).get("term_review") or None
    return {
        "voucher_id": record["voucher_id"],
        "root_id": record["root_id"],
        "parent_id": record.get("parent_id"),
        "depth": int(record.get("depth", 0)),
        "issuer": record["issuer"],
        "holder": record["holder"],
        "amount": int(record["amount"]),
        "currency": record["currency"],
        "status": record["status"],
        "issue_date": record["issue_date"],
        "maturity_date": record["maturity_date"],
        "created_tx": record.get("created_tx", ""),
        "updated_tx": record.get("updated_tx", ""),
        "created_at": created_at,
        "updated_at": updated_at,
        "children": list(record.get("children", [])),
        "financier": (financing or {}).get("financier") or "",
        "long_tenor": bool(record.get("long_tenor", False)),
        "review_reason": (review or {}).get("reason") or "",
        "underlying": {
            "contract_hash": (record.get("underlying") or {}).get("contract_hash") or "",
            "invoice_hashes": list((record.get("underlying") or {}).get("invoice_hashes") or []),
        },
        "holders": holders,
    }


def voucher_effects(view: Mapping[str, Any] | None) -> Effects:
    """Aggregate contributions of one voucher view (none for SPLIT or settled nodes)."""
    if view is None or view["status"] not in LIVE:
        return NO_EFFECTS
    issuer, ccy, maturity = view["issuer"], view["currency"], view["maturity_date"]
    amount = int(view["amount"])
    financed = amount if view["financier"] else 0
    pending = amount if view["status"] == PENDING_ACCEPTANCE else 0
    vector = (amount, financed, pending, 1)
    aggregates: dict[tuple[str, ...], tuple[int, ...]] = {
        (k("ext", issuer, ccy),): vector,
        _tree_keys("exf", issuer, ccy, maturity): vector,
    }
    if view["status"] in (OVERDUE, DEFAULTED):
        overdue = view["status"] == OVERDUE
        aggregates[(k("odt", issuer, ccy),)] = (amount, 0, 1, 0) if overdue else (0, amount, 0, 1)
        aggregates[_tree_keys("odf", issuer, ccy, maturity)] = (1,)
    return Effects(aggregates)


@functools.lru_cache(maxsize=1024)
def _tree_keys(table: str, issuer: str, ccy: str, maturity: str) -> tuple[str, ...]:
    """The Fenwick node keys of `table` an update at `maturity` touches. A pure
    function of its arguments, cached: a block's vouchers share a handful of
    (issuer, currency, maturity) triples, each worth 17 keys."""
    return tuple(k(table, issuer, ccy, node) for node in fenwick_nodes(day_number(maturity)))


# --- receipt loans --------------------------------------------------------------------


def loan_projection(record: Mapping[str, Any]) -> dict[str, Any]:
    exposure = max(int(record.get("outstanding", 0)) - int(record.get("cash_margin", 0)), 0)
    value = int(record.get("collateral_value") or 0)
    ltv = record.get("ltv_bps")
    if ltv is None:
        ltv = exposure * 10_000 // value if value > 0 else 0
    history = record.get("status_history") or []
    return {
        "bank": record["bank"],
        "loan_id": record["loan_id"],
        "borrower": record.get("borrower", ""),
        "status": record["status"],
        "currency": record["currency"],
        "exposure": exposure,
        "outstanding": int(record.get("outstanding", 0)),
        "collateral_value": value,
        "ltv_bps": int(ltv),
        "margin_call_due": record.get("margin_call_due") or "",
        "status_tx": history[-1]["tx_id"] if history else "",
        "receipts": list(record.get("receipts", [])),
    }


def loan_effects(view: Mapping[str, Any] | None) -> Effects:
    if view is None or view["status"] not in LIVE_LOAN:
        return NO_EFFECTS
    bucket = f"{ltv_bucket(int(view['ltv_bps'])):02d}"
    aggregates: dict[tuple[str, ...], tuple[int, ...]] = {
        (k("ltv", view["bank"], view["currency"], bucket),): (1, int(view["exposure"]))
    }
    rows: dict[str, Any] = {}
    if view["status"] == MARGIN_CALL:
        rows[k("mc", view["bank"], view["loan_id"])] = {
            "bank": view["bank"],
            "loan_id": view["loan_id"],
            "borrower": view["borrower"],
            "ltv_bps": view["ltv_bps"],
            "outstanding": view["outstanding"],
            "currency": view["currency"],
            "due_date": view["margin_call_due"],
            "since_tx": view["status_tx"],
        }
    return Effects(aggregates, rows)
